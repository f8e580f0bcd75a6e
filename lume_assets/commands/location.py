"""The workspace file naming this folder's code location (shared by `dev` and `launch`)."""

from __future__ import annotations

from pathlib import Path


def default_workspace() -> Path:
    """./workspace.yaml if present, else the location `lume-assets dev` serves, written under
    DAGSTER_HOME (set to its default first, like `dev`)."""
    from lume_assets.deploy.instance import ensure_dagster_home
    from lume_assets.location import find_location, write_workspace

    home = ensure_dagster_home()
    local = Path("workspace.yaml")
    if local.is_file():
        return local
    return write_workspace(find_location(), home)
