"""The lume_assets code location: Definitions built from settings and the registered models."""

from __future__ import annotations

from typing import Any

import dagster as dg

from lume_assets.demo.oscillator import demo_assets
from lume_assets.io_managers.hdf5 import HDF5IOManager
from lume_assets.io_managers.text import TextIOManager
from lume_assets.settings import get_settings


def build_resources() -> dict[str, Any]:
    """Return the resource set (IO managers) for the configured deployment."""
    settings = get_settings()
    files_root = str(settings.resolved_files_root())
    alias = str(settings.mount_alias) if settings.mount_alias else None
    return {
        "io_manager": dg.FilesystemIOManager(base_dir=files_root),
        "hdf5_io_manager": HDF5IOManager(root_dir=files_root, mount_alias=alias),
        "text_io_manager": TextIOManager(root_dir=files_root, mount_alias=alias),
    }


defs = dg.Definitions(assets=demo_assets, resources=build_resources())
