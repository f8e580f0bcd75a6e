"""A model's plot: a PNG file referenced from the metadata and an inline image Dagit serves from
its compute-log folder; a cache hit points at the same files and stores no new image."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import dagster as dg

from lume_assets.assets.plot_links import PLOTS_NAMESPACE, PREVIEW_WIDTH
from lume_assets.demo import assets as demo

CONFIG = {"ops": {"beam_envelope": {"config": {"k_f": 2.5, "k_d": -2.4}}}}


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG from its IHDR chunk (AssertionError if not a PNG)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def result_event(instance: dg.DagsterInstance, run_id: str) -> Any:
    """The beam_envelope/result materialization of a run."""
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["beam_envelope", "result"])), limit=1
    ).records
    assert record.run_id == run_id
    return record.asset_materialization


def served_files(
    instance: dg.DagsterInstance, meta: Any, label: str, title: str
) -> tuple[Path, Path]:
    """(preview, full) that Dagit serves for the inline image `label`: the markdown is a
    `PREVIEW_WIDTH` preview linking to the full plot, which is the very file `<label>_path`."""
    plot = Path(meta[f"{label}_path"].value)
    width, height = png_size(plot.read_bytes())
    name = hashlib.sha256(plot.read_bytes()).hexdigest()[:16]
    shrunk = f"{name}-w{PREVIEW_WIDTH}"
    # one short markdown line: under 1,000 characters Dagit renders it without a dialog
    assert meta[label].value == (
        f"[![{title}](/logs/{PLOTS_NAMESPACE}/{shrunk}/png)](/logs/{PLOTS_NAMESPACE}/{name}/png)"
    )
    at = instance.compute_log_manager.get_captured_local_path
    preview, full = (Path(at([PLOTS_NAMESPACE, n], "png")) for n in (shrunk, name))
    assert full.read_bytes() == plot.read_bytes() and full.stat().st_ino == plot.stat().st_ino
    assert png_size(preview.read_bytes()) == (PREVIEW_WIDTH, round(height * PREVIEW_WIDTH / width))
    return preview, full


def test_plot_is_a_file_shown_inline_and_a_cache_hit_adds_no_image(
    resources: dict[str, Any], lume_home: Path
) -> None:
    with dg.instance_for_test() as instance:
        first = dg.materialize(
            [demo.beam_envelope], resources=resources, instance=instance, run_config=CONFIG
        )
        meta = result_event(instance, first.run_id).metadata
        plot = Path(meta["plot_path"].value)
        assert png_size(plot.read_bytes()) == (600, 320)  # the model's own figure, full size
        served = served_files(instance, meta, "plot", "beam_envelope")
        stamps = [p.stat().st_mtime_ns for p in (plot, *served)]

        hit = dg.materialize(
            [demo.beam_envelope], resources=resources, instance=instance, run_config=CONFIG
        )
        again = result_event(instance, hit.run_id).metadata
        assert again["cache_hit"].value is True
        assert again["plot"] == meta["plot"] and again["plot_path"] == meta["plot_path"]
        assert [p.stat().st_mtime_ns for p in (plot, *served)] == stamps  # nothing rewritten
        assert sorted(served[0].parent.iterdir()) == sorted(served)
        assert [p.name for p in plot.parent.glob("*.png")] == [plot.name]
    # what the plot costs in the event log per run: two short strings, no image
    plot_bytes = len(json.dumps([again["plot"].value, again["plot_path"].value]))
    assert plot_bytes < 300, plot_bytes


def test_without_local_compute_logs_the_plot_is_only_a_path(
    resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    run = dg.materialize(
        [demo.beam_envelope], resources=resources, instance=instance, run_config=CONFIG
    )
    meta = result_event(instance, run.run_id).metadata
    assert "plot" not in meta  # an ephemeral instance keeps no compute logs: Dagit cannot serve it
    assert png_size(Path(meta["plot_path"].value).read_bytes()) == (600, 320)
