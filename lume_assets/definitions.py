"""The lume_assets code location: Definitions built from settings and the registered models."""

from __future__ import annotations

from typing import Any

import dagster as dg

from lume_assets.demo.oscillator import demo_assets
from lume_assets.deploy.jobs import group_job
from lume_assets.deploy.launch import DEMO_JOB
from lume_assets.io_managers.hdf5 import HDF5IOManager
from lume_assets.io_managers.results import ResultIOManager, ResultStoreResource
from lume_assets.io_managers.text import TextIOManager
from lume_assets.settings import get_settings


def build_resources() -> dict[str, Any]:
    """Return the resource set (IO managers) for the configured deployment."""
    settings = get_settings()
    files_root = str(settings.resolved_files_root())
    alias = str(settings.mount_alias) if settings.mount_alias else None
    result_store = ResultStoreResource(
        url=settings.resolved_results_url(),
        project=settings.project,
        # Offloaded arrays are written through the mount alias inside a container.
        files_root=alias or files_root,
        # The password stays an EnvVar: Dagster resolves it at run time and never shows it.
        mongo_password=dg.EnvVar("LUME_MONGO_PASSWORD") if settings.mongo_password else None,
    )
    return {
        # In a container the host's files root is only reachable through its mount alias.
        "io_manager": dg.FilesystemIOManager(base_dir=alias or files_root),
        "hdf5_io_manager": HDF5IOManager(root_dir=files_root, mount_alias=alias),
        "text_io_manager": TextIOManager(root_dir=files_root, mount_alias=alias),
        "result_store": result_store,
        "result_io_manager": ResultIOManager(result_store=result_store),
    }


def build_definitions() -> dg.Definitions:
    """Return the code location's Definitions for the current settings (LUME_* env)."""
    return dg.Definitions(
        assets=demo_assets,
        jobs=[group_job(demo_assets, "demo", DEMO_JOB)],
        resources=build_resources(),
    )


defs = build_definitions()
