"""Fast scans: thousands of points in one run, batched into the result store and HDF5."""

import hashlib
from pathlib import Path

import dagster as dg
import h5py
import numpy as np
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

import lume_assets.assets.evaluation as evaluation_module
import lume_assets.storage.results as results_module
from lume_assets.assets.scan_asset import scan_asset
from lume_assets.assets.scan_grid import LinSpace, ScanSpec
from lume_assets.automation.progress import subscribe
from lume_assets.storage.results import compute_inputs_hash, compute_inputs_hashes
from tests.automation.conftest import make_cheap_spec


def whole_range(keys: list[str]) -> dict[str, str]:
    """Run tags of a single-run backfill over `keys` (what the backfill daemon launches)."""
    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


SCAN = ScanSpec(
    name="grid",
    axes={"x": LinSpace(start=-3, stop=3, num=30), "y": LinSpace(start=0, stop=2, num=20)},
    fixed={"gain": 2.0},
    chunk_size=150,
)


@pytest.mark.parametrize("batch", [True, False])
def test_whole_scan_is_one_run_writing_every_chunk_and_every_result(
    scan_resources, batch, monkeypatch
):
    spec = make_cheap_spec(batch=batch)
    asset = scan_asset(spec, SCAN)
    keys = SCAN.chunk_keys()
    assert len(keys) == 4
    hashed: list[str] = []  # every inputs hash computed, by the evaluation core or a Result

    def counted(*args):
        hashed.append(args[0])
        return compute_inputs_hash(*args)

    def counted_batch(model, version, points):
        hashed.extend([model] * len(points))
        return compute_inputs_hashes(model, version, points)

    monkeypatch.setattr(results_module, "compute_inputs_hash", counted)
    monkeypatch.setattr(evaluation_module, "compute_inputs_hash", counted)
    monkeypatch.setattr(evaluation_module, "compute_inputs_hashes", counted_batch)
    lines: list[str] = []
    with dg.instance_for_test() as instance, subscribe(lines.append):
        result = dg.materialize(
            [asset], instance=instance, resources=scan_resources, tags=whole_range(keys)
        )
        assert result.success
        assert len(instance.get_runs()) == 1
        materialized = instance.get_materialized_partitions(asset.key)
    assert materialized == set(keys)
    assert len(hashed) == SCAN.size  # each point hashed once: the Results reuse its hash
    # one progress line per chunk, ending at 100 %
    assert len(lines) == 4 and "600/600 points (100%)" in lines[-1]
    # HDF5: one readable file per chunk with inputs, outputs and hashes
    root = Path(scan_resources["hdf5_io_manager"].root_dir)
    xs = []
    for key in keys:
        [chunk_file] = (root / "cheap" / "grid" / key).iterdir()
        with h5py.File(chunk_file, "r") as fh:
            x, y = fh["inputs/x"][()], fh["inputs/y"][()]
            np.testing.assert_allclose(fh["outputs/r"][()], 2.0 * np.hypot(x, y))
            assert len(fh["inputs_hash"][()]) == len(x)
            xs.append(x)
    assert sum(len(x) for x in xs) == SCAN.size
    # result store: every point stored once, published, queryable
    store = scan_resources["result_store"].get_store()
    assert store.count("cheap") == SCAN.size
    hits = store.find("cheap", {"inputs.x": {"$eq": 3.0}, "inputs.y": {"$eq": 2.0}})
    assert len(hits) == 1 and hits[0].outputs["p"] == pytest.approx(12.0)
    assert hits[0].provenance.run_id == result.run_id
    assert hits[0].inputs_hash == compute_inputs_hash("cheap", spec.version, hits[0].inputs)
    chunk = hits[0].provenance.files["scan"]  # the record points at its chunk's file + sha256
    assert chunk.sha256 == hashlib.sha256((root / chunk.path).read_bytes()).hexdigest()


def test_one_chunk_can_run_alone(scan_resources):
    asset = scan_asset(make_cheap_spec(), SCAN)
    result = dg.materialize([asset], resources=scan_resources, partition_key="grid-00002")
    assert result.success
    assert scan_resources["result_store"].get_store().count("cheap") == 150


def test_gated_scan_is_held_until_approved(scan_resources):
    from lume_assets.automation.approval import ApprovalStatus, decide, store_publisher

    asset = scan_asset(make_cheap_spec(), SCAN, requires_approval=True)
    keys = SCAN.chunk_keys()
    result = dg.materialize([asset], resources=scan_resources, tags=whole_range(keys))
    assert result.success
    store = scan_resources["result_store"].get_store()
    assert store.count("cheap") == 0  # held: not queryable
    assert store.count("cheap", include_unpublished=True) == SCAN.size
    approvals = scan_resources["approvals"].get_store()
    [pending] = approvals.list(status="pending")
    assert pending.gate == "cheap/grid" and pending.run_id == result.run_id
    assert pending.partition_key == f"{keys[0]}...{keys[-1]}"
    [done] = decide(approvals, result.run_id, "approve", "alice", publish=store_publisher(store))
    assert done.status is ApprovalStatus.APPROVED and done.decided_by == "alice"
    assert store.count("cheap") == SCAN.size


def test_forced_scan_re_evaluates_and_never_unpublishes(scan_resources):
    from lume_assets.automation.approval import decide, store_publisher

    asset = scan_asset(make_cheap_spec(), SCAN, requires_approval=True)
    first, second = SCAN.chunk_keys()[:2]
    store = scan_resources["result_store"].get_store()
    approvals = scan_resources["approvals"].get_store()
    with dg.instance_for_test() as instance:
        approved = dg.materialize(
            [asset], instance=instance, resources=scan_resources, partition_key=first
        )
        decide(approvals, approved.run_id, "approve", "alice", publish=store_publisher(store))
        held = dg.materialize(
            [asset], instance=instance, resources=scan_resources, partition_key=second
        )
        assert held.success and store.count("cheap") == 150  # the second chunk is held
        forced = dg.materialize(
            [asset],
            instance=instance,
            resources=scan_resources,
            tags=whole_range([first, second]),
            run_config={"ops": {"cheap__grid": {"config": {"force": True}}}},
        )
    assert forced.success
    meta = forced.get_asset_materialization_events()[0].materialization.metadata
    assert meta["cache_hits"].value == 0 and meta["records_written"].value == 300
    records = store.find("cheap", include_unpublished=True)
    assert len(records) == 300 and {r.provenance.run_id for r in records} == {forced.run_id}
    # the approved chunk stays published, the held one stays held (no flag changed by force)
    assert store.count("cheap") == 150
    assert {r.provenance.partition_key for r in store.find("cheap")} == {first}
    root = Path(scan_resources["hdf5_io_manager"].root_dir)
    for record in records:  # every record points at its chunk's rewritten file
        chunk = record.provenance.files["scan"]
        assert chunk.sha256 == hashlib.sha256((root / chunk.path).read_bytes()).hexdigest()
