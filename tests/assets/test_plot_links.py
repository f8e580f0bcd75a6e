"""A model's plot: a PNG file referenced from the metadata and an inline image Dagit serves from
its compute-log folder; a cache hit points at the same files and stores no new image."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import dagster as dg

from lume_assets.assets.plot_links import PLOTS_NAMESPACE
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


def test_plot_is_a_file_shown_inline_and_a_cache_hit_adds_no_image(
    resources: dict[str, Any], lume_home: Path
) -> None:
    with dg.instance_for_test() as instance:
        first = dg.materialize(
            [demo.beam_envelope], resources=resources, instance=instance, run_config=CONFIG
        )
        meta = result_event(instance, first.run_id).metadata
        plot = Path(meta["plot_path"].value)
        data = plot.read_bytes()
        assert png_size(data) == (600, 320)  # the model's own figure, full size
        sha = hashlib.sha256(data).hexdigest()
        # inline in Dagit: one short markdown line (< 1,000 characters renders without a dialog)
        assert meta["plot"].value == f"![beam_envelope](/logs/{PLOTS_NAMESPACE}/{sha[:16]}/png)"
        served = Path(
            instance.compute_log_manager.get_captured_local_path([PLOTS_NAMESPACE, sha[:16]], "png")
        )
        assert served.read_bytes() == data and served.stat().st_ino == plot.stat().st_ino
        stamps = (plot.stat().st_mtime_ns, served.stat().st_mtime_ns)

        hit = dg.materialize(
            [demo.beam_envelope], resources=resources, instance=instance, run_config=CONFIG
        )
        again = result_event(instance, hit.run_id).metadata
        assert again["cache_hit"].value is True
        assert again["plot"] == meta["plot"] and again["plot_path"] == meta["plot_path"]
        assert (plot.stat().st_mtime_ns, served.stat().st_mtime_ns) == stamps  # not rewritten
        assert [p.name for p in served.parent.iterdir()] == [served.name]
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
