"""The lume_assets code location: Definitions built from settings and the registered models."""

from __future__ import annotations

from typing import Any

import dagster as dg

from lume_assets.demo.oscillator import demo_assets
from lume_assets.io_managers.results import ResultIOManager, ResultStoreResource
from lume_assets.settings import get_settings


def build_resources() -> dict[str, Any]:
    """Return the resource set (IO managers) for the configured deployment."""
    settings = get_settings()
    files_root = settings.resolved_files_root()
    result_store = ResultStoreResource(
        url=settings.resolved_results_url(),
        project=settings.project,
        files_root=str(files_root),
        # The password stays an EnvVar: Dagster resolves it at run time and never shows it.
        mongo_password=dg.EnvVar("LUME_MONGO_PASSWORD") if settings.mongo_password else None,
    )
    return {
        "io_manager": dg.FilesystemIOManager(base_dir=str(files_root)),
        "result_store": result_store,
        "result_io_manager": ResultIOManager(result_store=result_store),
    }


defs = dg.Definitions(assets=demo_assets, resources=build_resources())
