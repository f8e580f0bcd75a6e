"""The local Dagster instance home: DAGSTER_HOME, defaulting under LUME_HOME."""

from __future__ import annotations

import os
from pathlib import Path

from lume_assets.settings import get_settings


def ensure_dagster_home() -> Path:
    """Return DAGSTER_HOME, defaulting it to <LUME_HOME>/dagster_home with a dagster.yaml."""
    settings = get_settings()
    home = Path(os.environ.get("DAGSTER_HOME") or settings.home / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text("telemetry:\n  enabled: false\n")
    return home


__all__ = ["ensure_dagster_home"]
