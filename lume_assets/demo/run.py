"""Run the demo asset graph on the embedded defaults and report where results went."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import BaseModel

from lume_assets.deploy.instance import ensure_dagster_home, open_instance
from lume_assets.deploy.liveness import process_tags
from lume_assets.settings import get_settings
from lume_assets.storage.urls import mask_url

__all__ = ["DemoReport", "ensure_dagster_home", "run_demo"]


class DemoReport(BaseModel):
    """What the demo materialized and where it is."""

    success: bool
    run_id: str
    run_ids: list[str]
    assets: list[str]
    checks: dict[str, bool]
    files_root: Path
    dagster_home: Path
    results_url: str
    registry_url: str
    files: dict[str, Path]


#: Dagster's console logger at WARNING: the demo prints its own summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _paths(result: dg.ExecuteInProcessResult) -> dict[str, Path]:
    """Asset key -> file path, from the materializations' `path` metadata."""
    out = {}
    for event in result.get_asset_materialization_events():
        meta = event.materialization.metadata
        if "path" in meta:
            out[event.asset_key.to_user_string()] = Path(str(meta["path"].value))
    return out


def run_demo() -> DemoReport:
    """Materialize the model, the full quad scan (one run) and the surrogate with its check."""
    from lume_assets.demo import assets as demo
    from lume_assets.serving import build_resources

    dagster_home = ensure_dagster_home()
    settings = get_settings()
    resources = build_resources()
    keys = demo.scan_partitions.get_partition_keys()
    results: list[dg.ExecuteInProcessResult] = []
    with open_instance() as instance:
        results.append(
            dg.materialize(
                [demo.beam_envelope],
                instance=instance,
                resources=resources,
                run_config=QUIET,
                tags=process_tags(),
            )
        )
        results.append(
            dg.materialize(  # every scan partition in one run (single-run backfill policy)
                [demo.envelope_scan],
                instance=instance,
                resources=resources,
                run_config=QUIET,
                tags={
                    **process_tags(),
                    "dagster/asset_partition_range_start": keys[0],
                    "dagster/asset_partition_range_end": keys[-1],
                },
            )
        )
        results.append(
            dg.materialize(
                [demo.envelope_scan, demo.envelope_surrogate, *demo.demo_checks],
                selection=[demo.envelope_surrogate, *demo.demo_checks],
                instance=instance,
                resources=resources,
                run_config=QUIET,
                tags=process_tags(),
            )
        )
    assets = [
        e.asset_key.to_user_string() for r in results for e in r.get_asset_materialization_events()
    ]
    checks = {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for r in results
        for e in r.get_asset_check_evaluations()
    }
    files: dict[str, Path] = {}
    for r in results:
        files.update(_paths(r))
    return DemoReport(
        success=all(r.success for r in results) and all(checks.values()),
        run_id=results[-1].run_id,
        run_ids=[r.run_id for r in results],
        assets=list(dict.fromkeys(assets)),
        checks=checks,
        files_root=settings.resolved_files_root(),
        dagster_home=dagster_home,
        results_url=mask_url(settings.resolved_results_url()),
        registry_url=mask_url(settings.resolved_registry_url()),
        files=files,
    )
