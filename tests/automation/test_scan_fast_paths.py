"""A scan's fast paths give exactly what the per-point paths give, and refuse the same input."""

from pathlib import Path

import dagster as dg
import h5py
import numpy as np
import pytest

import lume_assets.assets.scan_asset as scan_module
from lume_assets.assets.evaluation import validate_points
from lume_assets.assets.scan_asset import scan_asset
from lume_assets.assets.scan_grid import LinSpace, ScanSpec, check_axes
from lume_assets.errors import ModelOutputError
from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import ScalarVariable
from lume_assets.storage.results import Provenance, Result, construct_results, utc_now_ms
from tests.automation.conftest import make_cheap_spec
from tests.automation.test_scans import whole_range

SCAN = ScanSpec(
    name="grid",
    axes={"x": LinSpace(start=-3, stop=3, num=7), "y": [0.0, -0.0, 2.5, 1e-300]},
    fixed={"gain": 2},
    chunk_size=9,
)


def test_grid_validated_per_axis_gives_the_per_point_inputs():
    spec = make_cheap_spec()
    grid = check_axes(spec, SCAN)
    assert grid is not None  # every input a scalar, every axis value allowed: the fast path
    columns = SCAN.columns()
    for key in SCAN.chunk_keys():
        fast = grid.chunk_points(key, columns)
        slow = validate_points(spec, SCAN.chunk_points(key, columns))
        assert fast == slow
        assert [list(p) for p in fast] == [list(p) for p in slow]  # same key order
        assert all(type(v) is float for p in fast for v in p.values())  # gain 2 -> 2.0


def test_an_axis_value_out_of_range_falls_back_and_fails_its_chunk_in_one_line(scan_resources):
    spec = make_cheap_spec()
    bad = SCAN.model_copy(update={"axes": {**SCAN.axes, "x": [0.0, 1.0, 250.0]}})
    assert check_axes(spec, bad) is None
    nan = SCAN.model_copy(update={"axes": {**SCAN.axes, "y": [0.0, float("nan")]}})
    assert check_axes(spec, nan) is None
    asset = scan_asset(spec, bad)
    keys = bad.chunk_keys()
    result = dg.materialize(
        [asset], resources=scan_resources, tags=whole_range(keys), raise_on_error=False
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message.strip()
    assert "\n" not in message
    assert "input 'x' = 250 is outside its allowed range [-100, 100]" in message
    assert "grid-00000" in message  # the first chunk holding x = 250
    store = scan_resources["result_store"].get_store()
    assert store.count("cheap") == 0


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_scalar_batch_outputs_validated_per_column_as_per_point(dtype):
    def batch(x):  # noqa: ANN001, ANN202 - numpy columns
        return {"y": (x * 3).astype(dtype), "z": np.arange(len(x), dtype=dtype)}

    spec = ModelSpec(
        name="cols",
        version="1",
        inputs=[ScalarVariable(name="x")],
        outputs=[ScalarVariable(name="y"), ScalarVariable(name="z")],
        function=lambda x: {"y": x, "z": x},
        batch_function=batch,
    )
    points = [{"x": v} for v in (0.1, 2.5, -7.0)]
    raw = batch(np.asarray([p["x"] for p in points]))
    assert spec._scalar_output_columns(raw, 3) is not None  # the column path is taken
    per_point = [spec.validate_outputs({k: v[i] for k, v in raw.items()}) for i in range(3)]
    got = spec.evaluate_checked(points)
    assert got == per_point
    assert all(type(v) is float for p in got for v in p.values())


def test_a_non_finite_batch_output_still_fails_naming_the_output():
    spec = ModelSpec(
        name="nan",
        version="1",
        inputs=[ScalarVariable(name="x")],
        outputs=[ScalarVariable(name="y")],
        function=lambda x: {"y": x},
        batch_function=lambda x: {"y": np.where(x > 0, np.nan, x)},
    )
    with pytest.raises(ModelOutputError, match="output 'y' = nan is not finite"):
        spec.evaluate_checked([{"x": -1.0}, {"x": 1.0}])


def test_constructed_results_equal_model_construct():
    prov = Provenance(run_id="r", partition_key="grid-00000")
    created = utc_now_ms()
    rows = [
        {
            "model": "m",
            "version": "1",
            "inputs": {"x": float(i)},
            "outputs": {"y": 2.0 * i},
            "inputs_hash": f"{i:064x}",
            "created": created,
            "provenance": prov,
            "published": bool(i % 2),
        }
        for i in range(3)
    ]
    rows.append(dict(reversed(rows[-1].items())))  # another key order: copied in field order
    built = construct_results(rows)
    plain = [Result.model_construct(**row) for row in rows]
    assert built == plain
    for a, b in zip(built, plain, strict=True):
        assert a.model_dump() == b.model_dump()
        assert a.model_fields_set == b.model_fields_set
        assert a.model_fields_set is not built[0].model_fields_set or a is built[0]
    assert list(built[-1].__dict__) == list(Result.model_fields)
    assert construct_results([]) == []


def test_scan_writes_the_same_records_and_columns_with_and_without_the_fast_paths(
    scan_resources, tmp_path, monkeypatch
):
    from lume_assets.io_managers.hdf5 import HDF5IOManager
    from lume_assets.io_managers.results import ResultStoreResource

    spec = make_cheap_spec()
    keys = SCAN.chunk_keys()
    fast = dg.materialize(
        [scan_asset(spec, SCAN)], resources=scan_resources, tags=whole_range(keys)
    )
    slow_root = tmp_path / "slow"
    slow_resources = {
        **scan_resources,
        "result_store": ResultStoreResource(
            url=f"sqlite:///{slow_root / 'results.db'}", files_root=str(slow_root / "files")
        ),
        "hdf5_io_manager": HDF5IOManager(root_dir=str(slow_root / "files")),
    }
    slow_root.mkdir()
    monkeypatch.setattr(scan_module, "check_axes", lambda spec, scan: None)  # per point
    slow = dg.materialize(
        [scan_asset(spec, SCAN)], resources=slow_resources, tags=whole_range(keys)
    )
    assert fast.success and slow.success

    def records(resources):  # noqa: ANN001, ANN202
        found = resources["result_store"].get_store().find("cheap", sort=[("inputs_hash", 1)])
        return [(r.inputs_hash, r.inputs, r.outputs, r.published) for r in found]

    assert records(scan_resources) == records(slow_resources)
    assert len(records(scan_resources)) == 7 * 3  # y = 0.0 and -0.0 hash alike
    for key in keys:
        [a] = (Path(scan_resources["hdf5_io_manager"].root_dir) / "cheap/grid" / key).iterdir()
        [b] = (slow_root / "files/cheap/grid" / key).iterdir()
        assert a.name == b.name  # the file id: a digest of the chunk's inputs hashes
        with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
            for name in ("inputs/x", "inputs/y", "inputs/gain", "outputs/r", "outputs/p"):
                np.testing.assert_array_equal(fa[name][()], fb[name][()])
                assert fa[name].dtype == fb[name].dtype


def test_default_chunk_size_grows_with_the_scan_up_to_ten_thousand():
    def chunks(num: int, **extra) -> tuple[int, int]:  # noqa: ANN003
        scan = ScanSpec(name="g", axes={"x": LinSpace(start=0, stop=1, num=num)}, **extra)
        return scan.chunk_size, len(scan.chunk_keys())

    assert chunks(400) == (1000, 1)  # small scans are cut as before
    assert chunks(16_000) == (1000, 16)
    assert chunks(100_000) == (6250, 16)
    assert chunks(1_000_000) == (10_000, 100)
    assert chunks(100_000, chunk_size=1000) == (1000, 100)  # an explicit size is kept


def test_a_writer_process_writes_the_same_records_as_the_step(scan_resources, tmp_path):
    from lume_assets.deploy.chunk_runners import ChunkRunner
    from lume_assets.io_managers.hdf5 import HDF5IOManager
    from lume_assets.io_managers.results import ResultStoreResource

    spec = make_cheap_spec()
    # no point twice: a repeated point in a later chunk may be looked up before the writer
    # committed its first copy (as with chunks in flight: evaluated twice, same outputs)
    scan = SCAN.model_copy(update={"axes": {**SCAN.axes, "y": [0.0, 2.5, 1e-300, -1.5]}})
    keys = scan.chunk_keys()
    sides = {}
    for writer in ("process", "step"):
        root = tmp_path / writer
        resources = {
            **scan_resources,
            "result_store": ResultStoreResource(
                url=f"sqlite:///{root / 'results.db'}", files_root=str(root / "files")
            ),
            "hdf5_io_manager": HDF5IOManager(root_dir=str(root / "files")),
            "chunk_runner": ChunkRunner(writer=writer),
        }
        root.mkdir()
        asset = scan_asset(spec, scan, requires_approval=True)  # held: published=False
        with dg.instance_for_test() as instance:
            first = dg.materialize(
                [asset], instance=instance, resources=resources, tags=whole_range(keys)
            )
            again = dg.materialize(  # every point a cache hit: rewritten by the step
                [asset], instance=instance, resources=resources, tags=whole_range(keys)
            )
        assert first.success and again.success
        meta = first.get_asset_materialization_events()[0].materialization.metadata
        assert meta["records_written"].value == scan.size and meta["cache_hits"].value == 0
        assert meta["writer"].value == writer
        meta = again.get_asset_materialization_events()[0].materialization.metadata
        assert meta["cache_hits"].value == scan.size
        found = (
            resources["result_store"]
            .get_store()
            .find("cheap", sort=[("inputs_hash", 1)], include_unpublished=True)
        )
        sides[writer] = [
            (
                r.inputs_hash,
                list(r.inputs.items()),
                list(r.outputs.items()),
                r.published,
                r.provenance.partition_key,
                r.provenance.files["scan"].path,
                r.provenance.files["scan"].sha256 is not None,
            )
            for r in found
        ]
    assert sides["process"] == sides["step"]
    assert len(sides["step"]) == scan.size and not any(row[3] for row in sides["step"])


@pytest.mark.parametrize("stopped", ["while-writing", "before-the-first-chunk"])
def test_a_writer_process_that_cannot_open_the_store_fails_the_step_in_one_line(
    scan_resources, tmp_path, monkeypatch, stopped
):
    from lume_assets.deploy.chunk_runners import ChunkRunner
    from lume_assets.storage import chunk_writer

    if stopped == "before-the-first-chunk":  # the pool is broken before the step submits
        started = chunk_writer.ChunkWriter.__init__

        def broken_first(self, store_options):  # noqa: ANN001, ANN202
            started(self, store_options)
            assert self._pool.submit(int).exception(timeout=60) is not None

        monkeypatch.setattr(chunk_writer.ChunkWriter, "__init__", broken_first)
    from lume_assets.io_managers.results import ResultStoreResource
    from lume_assets.storage.result_stores import open_result_store

    class NoStoreForTheWriter(ResultStoreResource):
        def store_options(self, project=None):  # noqa: ANN001, ANN202
            return {**super().store_options(project), "url": ""}  # refused when opened

        def get_store(self, project=None):  # noqa: ANN001, ANN202 - the step's store opens
            return open_result_store(**ResultStoreResource.store_options(self, project))

    resources = {
        **scan_resources,
        "result_store": NoStoreForTheWriter(url=f"sqlite:///{tmp_path / 'results.db'}"),
        "chunk_runner": ChunkRunner(writer="process"),
    }
    result = dg.materialize(
        [scan_asset(make_cheap_spec(), SCAN)],
        resources=resources,
        tags=whole_range(SCAN.chunk_keys()),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message.strip()
    assert "writer process stopped before grid-00000 was written" in message
    assert "\n" not in message
