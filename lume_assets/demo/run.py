"""Run the demo asset graph on the embedded defaults and report where results went."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import BaseModel

from lume_assets.settings import get_settings


class DemoReport(BaseModel):
    """What the demo materialized and where it is."""

    success: bool
    run_id: str
    assets: list[str]
    files_root: Path
    files: dict[str, str]
    dagster_home: Path


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


def run_demo() -> DemoReport:
    """Materialize every demo asset on a persistent local instance and return a report."""
    from lume_assets.definitions import build_resources
    from lume_assets.demo.oscillator import demo_assets

    dagster_home = ensure_dagster_home()
    resources = build_resources()
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(demo_assets, instance=instance, resources=resources)
    files: dict[str, str] = {}
    for event in result.get_asset_materialization_events():
        path = event.materialization.metadata.get("path")
        if path is not None:
            files[event.asset_key.to_user_string()] = str(path.value)
    return DemoReport(
        success=result.success,
        run_id=result.run_id,
        assets=[a.key.to_user_string() for a in demo_assets],
        files_root=get_settings().resolved_files_root(),
        files=files,
        dagster_home=dagster_home,
    )
