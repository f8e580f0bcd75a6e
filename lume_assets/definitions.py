"""The lume_assets code location: Definitions built from settings and the registered models."""

from __future__ import annotations

from typing import Any

import dagster as dg

from lume_assets.demo.oscillator import demo_assets
from lume_assets.settings import get_settings


def build_resources() -> dict[str, Any]:
    """Return the resource set (IO managers) for the configured deployment."""
    files_root = get_settings().resolved_files_root()
    return {"io_manager": dg.FilesystemIOManager(base_dir=str(files_root))}


defs = dg.Definitions(assets=demo_assets, resources=build_resources())
