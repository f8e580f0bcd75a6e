"""The lume_assets code location: Definitions built from settings and the registered models."""

from __future__ import annotations

from typing import Any

import dagster as dg

from lume_assets.demo.oscillator import demo_assets
from lume_assets.deploy.jobs import group_job
from lume_assets.deploy.launch import DEMO_JOB
from lume_assets.settings import get_settings
from lume_assets.storage.filesystems import files_filesystem


def build_resources() -> dict[str, Any]:
    """Return the resource set (IO managers) for the configured deployment."""
    settings = get_settings()
    files = files_filesystem(settings.resolved_files_root(), settings.mount_alias)
    return {"io_manager": dg.FilesystemIOManager(base_dir=str(files.root))}


defs = dg.Definitions(
    assets=demo_assets,
    jobs=[group_job(demo_assets, "demo", DEMO_JOB)],
    resources=build_resources(),
)
