"""lume_assets: scientific models and their results as Dagster software-defined assets."""

from lume_assets.errors import LumeError

__version__ = "0.1.0"
__all__ = ["LumeError", "__version__"]
