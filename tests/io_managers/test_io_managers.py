"""Text and HDF5 IO managers: real files via Dagster's materialize and build_*_context."""

import hashlib
from pathlib import Path
from typing import Any

import dagster as dg
import h5py
import numpy as np
import pytest

from lume_assets.errors import PathEscapeError, StorageError, UnknownSerializerError
from lume_assets.io_managers.files import partition_file_stem
from lume_assets.io_managers.hdf5 import HDF5IOManager
from lume_assets.io_managers.text import HEADER, TextIOManager
from lume_assets.storage.hdf5 import H5Node
from lume_assets.storage.serializers import register_serializer, unregister_serializer
from tests.storage.test_serializers import CSVSerializer

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
points = dg.StaticPartitionsDefinition(["p0", "p1", "p2", "p3"])


def materialization_metadata(result: dg.ExecuteInProcessResult, key: str) -> dict[str, Any]:
    """The metadata recorded on the materialization(s) of asset `key` (values unwrapped).

    A multi-partition run records one materialization per partition, all with this metadata.
    """
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)
    ]
    assert events
    metas = [{k: v.value for k, v in e.materialization.metadata.items()} for e in events]
    assert all(m == metas[0] for m in metas)
    return metas[0]


def only_file(folder: Path) -> Path:
    """The one file in `folder` (outputs are content-addressed: `<folder>/<id>.<ext>`)."""
    [path] = [p for p in folder.iterdir() if p.is_file()]
    return path


def body(path: Path) -> str:
    """A text file's content after the provenance header line."""
    header, rest = path.read_text().split("\n", 1)
    assert header.startswith(HEADER)
    return rest


def test_hdf5_asset_file_is_plain_hdf5_with_values_attrs_and_metadata(tmp_path: Path) -> None:
    beam_x = np.linspace(-1, 1, 11, dtype="f4")

    @dg.asset(io_manager_key="hdf5_io_manager")
    def beam() -> H5Node:
        return H5Node(
            {"x": H5Node(beam_x, {"units": "mm"}), "stats": {"n": np.int64(11)}},
            {"code": "impact-t", "charge_C": np.float64(1e-10)},
        )

    result = dg.materialize(
        [beam], resources={"hdf5_io_manager": HDF5IOManager(root_dir=str(tmp_path))}
    )
    assert result.success
    path = only_file(tmp_path / "beam")
    with h5py.File(path, "r") as fh:  # plain h5py, no lume code
        assert fh.attrs["run_id"] == result.run_id  # the provenance stamp
        np.testing.assert_array_equal(fh["x"][()], beam_x)
        assert fh["x"].dtype == np.float32
        assert fh["x"].attrs["units"] == "mm"
        assert fh.attrs["code"] == "impact-t"
        assert fh.attrs["charge_C"] == 1e-10
        assert fh["stats/n"][()] == 11
    meta = materialization_metadata(result, "beam")
    assert meta["path"] == str(path)
    assert meta["bytes"] == path.stat().st_size
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert meta["serializer"] == "hdf5"
    rows = {r.data["name"]: r.data for r in meta["datasets"].records}
    assert rows == {
        "/x": {"name": "/x", "shape": "(11,)", "dtype": "float32"},
        "/stats/n": {"name": "/stats/n", "shape": "()", "dtype": "int64"},
    }


def test_text_and_hdf5_chain_loads_inputs(tmp_path: Path) -> None:
    @dg.asset(io_manager_key="hdf5_io_manager")
    def trajectory() -> dict:
        return {"x": np.arange(5.0)}

    @dg.asset(io_manager_key="text_io_manager")
    def report(trajectory: dict) -> str:
        return f"sum={trajectory['x'].sum()}\n"

    @dg.asset
    def word_count(report: str) -> int:
        return len(report)

    resources = {
        "hdf5_io_manager": HDF5IOManager(root_dir=str(tmp_path)),
        "text_io_manager": TextIOManager(root_dir=str(tmp_path)),
        "io_manager": TextIOManager(root_dir=str(tmp_path / "ints"), serializer="hdf5"),
    }
    result = dg.materialize([trajectory, report, word_count], resources=resources)
    assert result.success
    report_file = only_file(tmp_path / "report")
    assert body(report_file) == "sum=10.0\n"
    assert result.output_for_node("word_count") == len("sum=10.0\n")
    meta = materialization_metadata(result, "report")
    assert meta["sha256"] == hashlib.sha256(report_file.read_bytes()).hexdigest()
    assert "datasets" not in meta


def test_partitioned_asset_writes_one_file_per_partition(tmp_path: Path) -> None:
    @dg.asset(partitions_def=points, io_manager_key="hdf5_io_manager")
    def scan(context: dg.AssetExecutionContext) -> dict:
        return {"k": context.partition_key, "y": np.full(3, int(context.partition_key[1:]))}

    @dg.asset(io_manager_key="text_io_manager")
    def summary(scan: dict) -> str:
        return ",".join(f"{k}:{int(v['y'].sum())}" for k, v in sorted(scan.items()))

    io = HDF5IOManager(root_dir=str(tmp_path))
    text = TextIOManager(root_dir=str(tmp_path))
    instance = dg.DagsterInstance.ephemeral()
    for key in ["p0", "p2", "p1", "p3"]:
        res = dg.materialize(
            [scan], partition_key=key, instance=instance, resources={"hdf5_io_manager": io}
        )
        path = materialization_metadata(res, "scan")["path"]
        assert path == str(only_file(tmp_path / f"scan/{key}"))
    assert sorted(p.name for p in (tmp_path / "scan").iterdir()) == ["p0", "p1", "p2", "p3"]
    with h5py.File(only_file(tmp_path / "scan/p2")) as fh:
        assert fh["k"].asstr()[()] == "p2"
    # a non-partitioned downstream asset reads every partition: a dict by partition key
    res = dg.materialize(
        [scan.to_source_asset(), summary],
        instance=instance,
        resources={"hdf5_io_manager": io, "text_io_manager": text},
    )
    assert body(only_file(tmp_path / "summary")) == "p0:0,p1:3,p2:6,p3:9"
    assert res.success


def test_single_run_backfill_output_writes_every_partition(tmp_path: Path) -> None:
    @dg.asset(
        partitions_def=points,
        io_manager_key="hdf5_io_manager",
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def vectorized(context: dg.AssetExecutionContext) -> dict:
        # one vectorized evaluation for the whole range, split by partition key
        keys = context.partition_keys
        values = np.arange(len(keys)) ** 2
        return {k: {"value": np.float64(v)} for k, v in zip(keys, values, strict=True)}

    @dg.asset(
        partitions_def=points,
        io_manager_key="text_io_manager",
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def labels(context: dg.AssetExecutionContext, vectorized: dict) -> dict:
        assert sorted(vectorized) == context.partition_keys
        return {k: f"{k}={float(v['value'])}" for k, v in vectorized.items()}

    resources = {
        "hdf5_io_manager": HDF5IOManager(root_dir=str(tmp_path)),
        "text_io_manager": TextIOManager(root_dir=str(tmp_path)),
    }
    result = dg.materialize(
        [vectorized, labels], resources=resources, tags={RANGE_START: "p1", RANGE_END: "p3"}
    )
    assert result.success
    assert sorted(p.name for p in (tmp_path / "vectorized").iterdir()) == ["p1", "p2", "p3"]
    for i, key in enumerate(["p1", "p2", "p3"]):
        with h5py.File(only_file(tmp_path / f"vectorized/{key}")) as fh:
            assert fh["value"][()] == float(i**2)
        assert body(only_file(tmp_path / f"labels/{key}")) == f"{key}={float(i**2)}"
    events = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("vectorized")
    ]
    files = {e.partition: {k: v.value for k, v in e.metadata.items()} for e in events}
    assert set(files) == {"p1", "p2", "p3"}
    p2 = only_file(tmp_path / "vectorized/p2")
    assert files["p2"]["sha256"] == hashlib.sha256(p2.read_bytes()).hexdigest()
    assert files["p2"]["bytes"] == p2.stat().st_size
    assert files["p2"]["lume/files"] == {"p2": f"vectorized/p2/{p2.name}"}  # its own file only
    assert all(m["partitions"] == 3 for m in files.values())
    assert files["p1"]["total_bytes"] == sum(m["bytes"] for m in files.values())
    assert [r.data["name"] for r in files["p1"]["datasets"].records] == ["/value"]


def test_multi_partition_output_with_wrong_keys_is_refused(tmp_path: Path) -> None:
    io = HDF5IOManager(root_dir=str(tmp_path))
    with dg.build_output_context(
        asset_key="scan",
        asset_partitions_def=points,
        asset_partition_key_range=dg.PartitionKeyRange("p0", "p2"),
    ) as ctx:
        with pytest.raises(StorageError, match="dict keyed by partition key"):
            io.handle_output(ctx, {"p0": 1, "p1": 2})
    assert not (tmp_path / "scan").exists()


def test_load_reads_the_file_the_materialization_recorded_and_never_guesses(
    tmp_path: Path,
) -> None:
    @dg.asset(partitions_def=points, io_manager_key="hdf5_io_manager")
    def out(context: dg.AssetExecutionContext) -> dict:
        return {"key": context.partition_key}

    io = HDF5IOManager(root_dir=str(tmp_path))
    instance = dg.DagsterInstance.ephemeral()
    for key in ["p0", "p1", "p2"]:
        dg.materialize(
            [out], partition_key=key, instance=instance, resources={"hdf5_io_manager": io}
        )
    upstream = dg.build_output_context(asset_key=["out"], asset_partitions_def=points)
    many = dg.build_input_context(
        asset_key=["out"],
        upstream_output=upstream,
        asset_partition_key_range=dg.PartitionKeyRange("p0", "p2"),
        asset_partitions_def=points,
        instance=instance,
    )
    assert io.load_input(many) == {"p0": {"key": "p0"}, "p1": {"key": "p1"}, "p2": {"key": "p2"}}
    # a stray file where a guessed path would look is never read: p3 was never materialized
    (tmp_path / "out/p3").mkdir()
    (tmp_path / "out/p3/0123456789abcdef.h5").write_bytes(b"not hdf5")
    missing = dg.build_input_context(
        asset_key=["out"],
        upstream_output=upstream,
        partition_key="p3",
        asset_partitions_def=points,
        instance=instance,
    )
    with pytest.raises(StorageError, match="materialize"):
        io.load_input(missing)


@pytest.mark.parametrize("bad", ["../../outside", "/etc/lume", "a/../../../x"])
def test_path_escapes_are_refused_through_the_io_manager(tmp_path: Path, bad: str) -> None:
    root = tmp_path / "root"
    io = TextIOManager(root_dir=str(root))
    with dg.build_output_context(asset_key="report", definition_metadata={"path": bad}) as ctx:
        with pytest.raises(PathEscapeError):
            io.handle_output(ctx, "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    assert list(root.rglob("*")) == []


def test_partition_keys_cannot_escape_or_nest(tmp_path: Path) -> None:
    assert partition_file_stem("a/b") == "a%2Fb"
    assert partition_file_stem("..") == "%2E."
    parts = dg.StaticPartitionsDefinition(["..", "a/b", "2024-01-01|x"])
    io = TextIOManager(root_dir=str(tmp_path))
    for key in parts.get_partition_keys():
        with dg.build_output_context(
            asset_key="t", partition_key=key, asset_partitions_def=parts
        ) as ctx:
            io.handle_output(ctx, key)
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["%2E.", "2024-01-01|x", "a%2Fb"]
    assert all(only_file(d).suffix == ".txt" for d in (tmp_path / "t").iterdir())


def test_mount_alias_writes_inside_the_container_path_and_records_the_host_path(
    tmp_path: Path,
) -> None:
    @dg.asset(io_manager_key="hdf5_io_manager")
    def field_map() -> dict:
        return {"b": np.eye(3)}

    io = HDF5IOManager(root_dir="/data/lume", mount_alias=str(tmp_path / "mnt"))
    result = dg.materialize([field_map], resources={"hdf5_io_manager": io})
    written = only_file(tmp_path / "mnt/field_map")
    path = materialization_metadata(result, "field_map")["path"]
    assert path == f"/data/lume/field_map/{written.name}"


def test_compression_config_reaches_the_file(tmp_path: Path) -> None:
    io = HDF5IOManager(root_dir=str(tmp_path), compression="gzip", compression_opts=6)
    with dg.build_output_context(asset_key="z") as ctx:
        io.handle_output(ctx, {"zeros": np.zeros((200, 200))})
    with h5py.File(only_file(tmp_path / "z")) as fh:
        assert fh["zeros"].compression == "gzip"
        assert fh["zeros"].compression_opts == 6


def test_user_serializer_chosen_by_asset_metadata(tmp_path: Path) -> None:
    register_serializer(CSVSerializer())
    try:

        @dg.asset(io_manager_key="text_io_manager", metadata={"serializer": "csv"})
        def table() -> list:
            return [{"a": "1", "b": "2"}]

        @dg.asset(io_manager_key="text_io_manager")
        def first_row(table: list) -> str:
            return str(table[0])

        result = dg.materialize(
            [table, first_row], resources={"text_io_manager": TextIOManager(root_dir=str(tmp_path))}
        )
        assert only_file(tmp_path / "table").read_text().splitlines() == ["a,b", "1,2"]
        assert body(only_file(tmp_path / "first_row")) == "{'a': '1', 'b': '2'}"
        assert materialization_metadata(result, "table")["serializer"] == "csv"
    finally:
        unregister_serializer("csv")


def test_unknown_serializer_in_config_names_the_known_ones(tmp_path: Path) -> None:
    io = TextIOManager(root_dir=str(tmp_path), serializer="parquet")
    with dg.build_output_context(asset_key="t") as ctx:
        with pytest.raises(UnknownSerializerError, match="known serializers: .*hdf5.*text"):
            io.handle_output(ctx, "x")


def test_build_resources_registers_both_io_managers(lume_home: Path) -> None:
    from lume_assets.serving import build_resources

    resources = build_resources()
    assert isinstance(resources["hdf5_io_manager"], HDF5IOManager)
    assert isinstance(resources["text_io_manager"], TextIOManager)
    assert resources["hdf5_io_manager"].root_dir == str(lume_home / "files")


def test_checksum_can_be_turned_off(tmp_path: Path) -> None:
    @dg.asset(io_manager_key="hdf5_io_manager")
    def quick() -> dict:
        return {"x": np.arange(3)}

    io = HDF5IOManager(root_dir=str(tmp_path), checksum=False)
    meta = materialization_metadata(
        dg.materialize([quick], resources={"hdf5_io_manager": io}), "quick"
    )
    assert "sha256" not in meta
    assert meta["bytes"] == only_file(tmp_path / "quick").stat().st_size


def test_op_outputs_are_stored_per_run_and_loaded_downstream(tmp_path: Path) -> None:
    @dg.op(out=dg.Out(io_manager_key="hdf5_io_manager"))
    def simulate() -> dict:
        return {"x": np.arange(4.0)}

    @dg.op(out=dg.Out(io_manager_key="text_io_manager"))
    def summarize(sim: dict) -> str:
        return f"max={sim['x'].max()}"

    @dg.job(
        resource_defs={
            "hdf5_io_manager": HDF5IOManager(root_dir=str(tmp_path)),
            "text_io_manager": TextIOManager(root_dir=str(tmp_path)),
        }
    )
    def pipeline() -> None:
        summarize(simulate())

    result = pipeline.execute_in_process()
    assert result.success
    run_dir = tmp_path / result.run_id
    assert body(only_file(run_dir / "summarize/result")) == "max=3.0"
    with h5py.File(only_file(run_dir / "simulate/result")) as fh:
        np.testing.assert_array_equal(fh["x"][()], np.arange(4.0))
