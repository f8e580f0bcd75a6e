"""lume_assets: scientific models and their results as Dagster software-defined assets.

The public API, as `import lume_assets as la`:

    la.ModelSpec, la.ScalarVariable, la.ArrayVariable, ...   models and their variables
    la.model_asset(spec), la.scan_asset(spec, la.ScanSpec(...))   assets from models
    la.load_asset_graph("graph.yaml"), la.ModelGraph              YAML graphs (a Component)
    la.resources(), la.definitions(models=[...], graphs=[...])   a code location's pieces
    la.LumeClient()                                              run models, query results
    la.LumeError and its subclasses                              every error we raise

Names load on first use (module `__getattr__`), so `import lume_assets` stays cheap; everything
also stays importable from its own module.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

# Single-run scans use `backfill_policy`, which Dagster 1.13 flags as beta on every definition
# load (once per process: the CLI, the code server and the daemon each printed it).
warnings.filterwarnings(
    "ignore", message=r"Parameter `backfill_policy` of function `asset` is currently in beta"
)

__version__ = "0.1.0"

#: public name -> module holding it
_EXPORTS: dict[str, str] = {
    # models and variables
    "ModelSpec": "lume_assets.models.model",
    "ModelResources": "lume_assets.models.model",
    "RetrySpec": "lume_assets.models.model",
    "Variable": "lume_assets.models.variables",
    "ScalarVariable": "lume_assets.models.variables",
    "ArrayVariable": "lume_assets.models.variables",
    "TextVariable": "lume_assets.models.variables",
    "FileVariable": "lume_assets.models.variables",
    "ImageVariable": "lume_assets.models.variables",
    "load_variables": "lume_assets.models.lume_variables",
    "register_model": "lume_assets.models.catalogue",
    "Result": "lume_assets.storage.results",
    # assets, graphs, scans
    "model_asset": "lume_assets.assets.model_assets",
    "scan_asset": "lume_assets.assets.scan_asset",
    "ScanSpec": "lume_assets.assets.scan_grid",
    "LinSpace": "lume_assets.assets.scan_grid",
    "load_asset_graph": "lume_assets.assets.graph_assets",
    "AssetGraph": "lume_assets.assets.graph_assets",
    "ModelGraph": "lume_assets.components.model_graph",
    # a code location's pieces, the client
    "resources": "lume_assets.serving",
    "definitions": "lume_assets.serving",
    "LumeClient": "lume_assets.client",
    # errors
    "LumeError": "lume_assets.errors",
    "ConfigError": "lume_assets.errors",
    "StorageError": "lume_assets.errors",
    "PathEscapeError": "lume_assets.errors",
    "ResultStoreError": "lume_assets.errors",
    "QueryError": "lume_assets.errors",
    "ResultNotFoundError": "lume_assets.errors",
    "ModelError": "lume_assets.errors",
    "ModelInputError": "lume_assets.errors",
    "ModelOutputError": "lume_assets.errors",
    "RegistryError": "lume_assets.errors",
    "GraphSpecError": "lume_assets.errors",
    "LocationError": "lume_assets.errors",
    "ClientError": "lume_assets.errors",
    "RunFailedError": "lume_assets.errors",
    "DeploymentError": "lume_assets.errors",
    "ApprovalError": "lume_assets.errors",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lume_assets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    """The public names (lets tools such as `dg list components` find ModelGraph)."""
    return sorted({*globals(), *_EXPORTS})
