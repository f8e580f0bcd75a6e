"""lume_assets: scientific models and their results as Dagster software-defined assets."""

import warnings

from lume_assets.errors import LumeError

# Single-run scans use `backfill_policy`, which Dagster 1.13 flags as beta on every definition
# load (once per process: the CLI, the code server and the daemon each printed it).
warnings.filterwarnings(
    "ignore", message=r"Parameter `backfill_policy` of function `asset` is currently in beta"
)

__version__ = "0.1.0"
__all__ = ["LumeError", "__version__"]
