"""Partition specs and scan grids."""

import dagster as dg
import numpy as np
import pytest

from lume_assets.assets.scan_grid import LinSpace, ScanSpec
from lume_assets.automation.partitions import PartitionSpec, build_partitions_def
from lume_assets.errors import ConfigError


def test_each_partition_kind_builds_its_dagster_definition():
    static = build_partitions_def(PartitionSpec(kind="static", keys=["a", "b"]))
    assert static.get_partition_keys() == ["a", "b"]
    dynamic = build_partitions_def(PartitionSpec(kind="dynamic", name="inputs"))
    assert isinstance(dynamic, dg.DynamicPartitionsDefinition) and dynamic.name == "inputs"
    daily = build_partitions_def(
        PartitionSpec(kind="daily", start="2026-01-01", end="2026-01-04", timezone="Asia/Tokyo")
    )
    assert daily.get_partition_keys() == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert daily.timezone == "Asia/Tokyo"
    shifts = build_partitions_def(
        PartitionSpec(
            kind="cron",
            start="2026-01-01-06:00",
            end="2026-01-02-06:00",
            cron="0 6,18 * * *",
            fmt="%Y-%m-%d-%H:%M",
        )
    )
    assert shifts.get_partition_keys() == ["2026-01-01-06:00", "2026-01-01-18:00"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "static"}, "static partitions need keys"),
        ({"kind": "dynamic"}, "dynamic partitions need name"),
        ({"kind": "daily"}, "daily partitions need start"),
        ({"kind": "static", "keys": ["a", "a"]}, "must be unique"),
    ],
)
def test_incomplete_partition_specs_are_refused(raw, message):
    with pytest.raises(ValueError, match=message):
        PartitionSpec.model_validate(raw)


def test_dagster_refusals_become_config_errors():
    with pytest.raises(ConfigError, match="Invalid daily partitions"):
        build_partitions_def(PartitionSpec(kind="daily", start="not a date"))


def test_product_scan_chunks_cover_every_point_once_in_order():
    scan = ScanSpec(
        name="grid",
        axes={"x": [1.0, 2.0, 3.0], "y": LinSpace(start=0, stop=1, num=4)},
        fixed={"z": 7},
        chunk_size=5,
    )
    assert scan.size == 12
    keys = scan.chunk_keys()
    assert keys == ["grid-00000", "grid-00001", "grid-00002"]
    points = [p for k in keys for p in scan.chunk_points(k)]
    expected = [(x, y) for x in [1.0, 2.0, 3.0] for y in np.linspace(0, 1, 4)]
    assert [(p["x"], p["y"]) for p in points] == expected
    assert all(p["z"] == 7 for p in points)
    assert len(scan.chunk_columns("grid-00002")["x"]) == 2
    with pytest.raises(KeyError):
        scan.chunk_index("other-00001")


def test_zip_scan_and_bad_scans():
    scan = ScanSpec(name="s", axes={"a": [1, 2], "b": [3, 4]}, combine="zip")
    assert scan.chunk_points("s-00000") == [{"a": 1.0, "b": 3.0}, {"a": 2.0, "b": 4.0}]
    with pytest.raises(ValueError, match="equal lengths"):
        ScanSpec(name="s", axes={"a": [1, 2], "b": [3]}, combine="zip")
    with pytest.raises(ValueError, match="both scanned and fixed"):
        ScanSpec(name="s", axes={"a": [1]}, fixed={"a": 2})
