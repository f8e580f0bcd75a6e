"""A scan's overview: a summary table (min/argmin/max/argmax of each scalar output) and a plot
(a heatmap over a 2-D grid, a line over one input), built chunk by chunk, on the last chunk's
event only, and written once per set of points."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from lume_assets.assets.scan_asset import scan_asset
from lume_assets.assets.scan_grid import LinSpace, ScanSpec
from lume_assets.assets.scan_overview import MAX_GRID_BINS, MAX_LINE_BINS, ScanOverview
from lume_assets.demo.focus_model import FOCUS
from lume_assets.errors import ModelError
from lume_assets.models.plotting import render
from tests.assets.test_plot_links import png_size, served_files
from tests.automation.conftest import make_cheap_spec
from tests.automation.test_scans import SCAN, whole_range


def latest(instance: dg.DagsterInstance, key: dg.AssetKey, run_id: str) -> dict:
    """Metadata of the run's event Dagit shows as the asset's latest; no other event of the run
    carries the overview."""
    records = instance.fetch_materializations(key, limit=1000).records  # newest first
    mine = [r.asset_materialization.metadata for r in records if r.run_id == run_id]
    assert records[0].run_id == run_id
    assert [m for m in mine if "summary" in m] == [mine[0]]
    return mine[0]


def test_overview_table_and_heatmap_match_the_stored_results(scan_resources) -> None:
    asset = scan_asset(make_cheap_spec(), SCAN)
    keys = SCAN.chunk_keys()
    with dg.instance_for_test() as instance:
        run = dg.materialize(
            [asset], instance=instance, resources=scan_resources, tags=whole_range(keys)
        )
        assert run.success
        last = latest(instance, asset.key, run.run_id)
        rows = {r.data["output"]: r.data for r in last["summary"].value.records}
        stored = scan_resources["result_store"].get_store().find("cheap", limit=10_000)
        assert len(stored) == SCAN.size
        for name in ("r", "p"):
            low = min(stored, key=lambda s: s.outputs[name])
            high = max(stored, key=lambda s: s.outputs[name])
            row = rows[name]
            assert row["points"] == SCAN.size
            assert row["min"] == pytest.approx(low.outputs[name], rel=1e-5)
            assert row["max"] == pytest.approx(high.outputs[name], rel=1e-5)
            assert row["argmin"] == f"x={low.inputs['x']:.6g}, y={low.inputs['y']:.6g}"
            assert row["argmax"] == f"x={high.inputs['x']:.6g}, y={high.inputs['y']:.6g}"
        plot = Path(last["overview_path"].value)
        data = plot.read_bytes()
        assert png_size(data) == (560, 400)
        served = served_files(instance, last, "overview", "cheap grid: 600 point(s)")
        stamps = [p.stat().st_mtime_ns for p in (plot, *served)]

        # the same points again (all cache hits): the stored overview, no new image anywhere
        again = dg.materialize(
            [asset], instance=instance, resources=scan_resources, tags=whole_range(keys)
        )
        assert again.success
        hit = latest(instance, asset.key, again.run_id)
        assert hit["cache_hits"].value == SCAN.size
        assert hit["overview"] == last["overview"] and hit["overview_path"] == last["overview_path"]
        assert hit["summary"] == last["summary"]
        assert [p.stat().st_mtime_ns for p in (plot, *served)] == stamps
        assert [p.name for p in plot.parent.iterdir()] == [plot.name]
        assert sorted(served[0].parent.iterdir()) == sorted(served)
    # the overview costs O(outputs) bytes in one event, not O(points) or O(chunks)
    overview = [hit[k].value for k in ("overview", "overview_path")]
    rows = [r.data for r in hit["summary"].value.records]
    assert len(json.dumps([*overview, rows])) < 1000


def test_overview_of_one_input_is_a_line_and_a_bad_plot_output_is_refused(tmp_path: Path) -> None:
    from tests.automation.test_scan_streaming import resources

    line = ScanSpec(
        name="line",
        axes={"k": LinSpace(start=0.5, stop=5, num=40)},
        fixed={"drift": 2.0},
        chunk_size=25,
        plot_output="focal_length",
    )
    asset = scan_asset(FOCUS, line)
    run = dg.materialize(
        [asset], resources=resources(tmp_path), tags=whole_range(line.chunk_keys())
    )
    assert run.success
    [meta] = [
        e.materialization.metadata
        for e in run.get_asset_materialization_events()
        if "summary" in e.materialization.metadata
    ]
    rows = {r.data["output"]: r.data for r in meta["summary"].value.records}
    assert rows["focal_length"]["min"] == pytest.approx(1 / 5, rel=1e-5)
    assert rows["sigma"]["points"] == 40
    assert rows["focal_length"]["argmax"] == "k=0.5"
    assert png_size(Path(meta["overview_path"].value).read_bytes()) == (560, 400)
    with pytest.raises(ModelError, match="plot_output 'nope' is not a scalar output of 'focus'"):
        scan_asset(FOCUS, line.model_copy(update={"plot_output": "nope"}))


def test_overview_memory_is_bounded_by_bins_not_points() -> None:
    """A million-point line and a 1000 x 1000 grid: fixed-size bins, exact extremes."""
    n = 1_000_000
    k = np.linspace(0.5, 5.0, n)
    line = ScanOverview(FOCUS, {"k": k}, grid=False)
    for start in range(0, n, 100_000):  # chunk by chunk, as a scan writes them
        part = k[start : start + 100_000]
        line.add({"k": part}, {"focal_length": 1 / part, "sigma": part})
    assert line.sums.shape == (MAX_LINE_BINS,) and line.counts.sum() == n
    assert line.extremes["focal_length"].low == (pytest.approx(0.2), {"k": 5.0})
    ks, drifts = np.meshgrid(np.linspace(1, 2, 1000), np.linspace(1, 3, 1000), indexing="ij")
    grid = ScanOverview(
        FOCUS, {"k": np.linspace(1, 2, 1000), "drift": np.linspace(1, 3, 1000)}, grid=True
    )
    grid.add(
        {"k": ks.ravel(), "drift": drifts.ravel()},
        {"focal_length": ks.ravel(), "sigma": ks.ravel()},
    )
    assert grid.sums.shape == (MAX_GRID_BINS, MAX_GRID_BINS) and grid.counts.sum() == n
    figure = grid.figure("grid")
    assert figure is not None and png_size(render(figure)) == (560, 400)


def test_the_scan_command_s_drawing_process_draws_the_same_overview(scan_resources) -> None:
    """A PlotProcess prestarted (as the `scan` command does) is taken by the scan step and its
    child draws the overview: the same PNG bytes as drawing in the step's process."""
    from lume_assets.models import plot_process

    asset = scan_asset(make_cheap_spec(), SCAN)
    keys = SCAN.chunk_keys()
    plot_process.prestart()
    (painter,) = plot_process._PRESTARTED
    with dg.instance_for_test() as instance:
        run = dg.materialize(
            [asset], instance=instance, resources=scan_resources, tags=whole_range(keys)
        )
        assert run.success
        last = latest(instance, asset.key, run.run_id)
    assert plot_process.take() is None  # the step took it
    assert painter.drawn_by_child
    drawn_here = ScanOverview(
        make_cheap_spec(), {n: SCAN.axis_values(n) for n in SCAN.axes}, grid=True
    )
    stored = scan_resources["result_store"].get_store().find("cheap", limit=10_000)
    drawn_here.add(
        {n: np.array([s.inputs[n] for s in stored]) for n in SCAN.axes},
        {n: np.array([s.outputs[n] for s in stored]) for n in ("r", "p")},
    )
    title = "cheap grid: 600 point(s)"
    figure = drawn_here.figure(title)
    assert figure is not None
    assert Path(last["overview_path"].value).read_bytes() == render(figure)


def test_a_drawing_process_that_cannot_start_draws_in_this_process(monkeypatch) -> None:
    from lume_assets.models import plot_process
    from lume_assets.models.plotting import FigureSpec

    monkeypatch.setattr(plot_process.sys, "executable", "/nonexistent/python")
    spec = FigureSpec(xs=[0.0, 1.0, 2.0], ys=[1.0, 0.0, 1.0], labels=("x", "y", ""), title="t")
    with plot_process.PlotProcess() as painter:
        data = painter.render(spec)
    assert not painter.drawn_by_child
    assert data == render(spec)
