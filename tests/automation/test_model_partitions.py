"""Partitioned model assets: single-run backfills through the real IO managers, approval gate."""

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from lume_assets.assets.model_assets import model_asset
from lume_assets.automation.gate import ApprovalsResource
from lume_assets.automation.model_partitions import (
    inbox_inputs,
    model_inputs_validator,
    table_inputs,
)
from lume_assets.automation.sensors import InboxSensorSpec, build_inbox_sensor
from lume_assets.cli import cli
from lume_assets.io_managers.hdf5 import HDF5IOManager
from lume_assets.io_managers.registry import RegistryResource
from lume_assets.io_managers.results import ResultIOManager, ResultStoreResource
from lume_assets.io_managers.text import TextIOManager
from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import ArrayVariable, ScalarVariable, TextVariable
from tests.automation.conftest import deliver

BATCH_CALLS: list[int] = []


def ramp(x: float, n: float) -> dict:
    """One point: a ramp from 0 to x with int(n) samples, its sum, and a note."""
    trace = np.linspace(0.0, x, int(n))
    return {"trace": trace, "total": float(trace.sum()), "note": f"ramp to {x:g}\n"}


def ramp_batch(x: np.ndarray, n: np.ndarray) -> dict:
    """All points in one call (counted, so tests can see one call per run)."""
    BATCH_CALLS.append(len(x))
    traces = [np.linspace(0.0, xi, int(ni)) for xi, ni in zip(x, n, strict=True)]
    return {
        "trace": traces,
        "total": np.asarray([t.sum() for t in traces]),
        "note": [f"ramp to {xi:g}\n" for xi in x],
    }


RAMP = ModelSpec(
    name="ramp",
    version="2.0",
    inputs=[
        ScalarVariable(name="x", default=1.0, value_range=(0.0, 1000.0)),
        ScalarVariable(name="n", default=8.0, value_range=(2.0, 64.0)),
    ],
    outputs=[
        ArrayVariable(name="trace", shape=(None,)),
        ScalarVariable(name="total"),
        TextVariable(name="note"),
    ],
    function=ramp,
    batch_function=ramp_batch,
)


@pytest.fixture
def resources(lume_settings) -> dict:
    """The real IO managers and stores, configured from the isolated LUME settings."""
    files = str(lume_settings.resolved_files_root())
    store = ResultStoreResource(url=lume_settings.resolved_results_url(), files_root=files)
    return {
        "result_store": store,
        "result_io_manager": ResultIOManager(result_store=store),
        "hdf5_io_manager": HDF5IOManager(root_dir=files),
        "text_io_manager": TextIOManager(root_dir=files),
        "approvals": ApprovalsResource(),
        "registry": RegistryResource(),
    }


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags of a single-run backfill over first...last (what the backfill daemon sets)."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def test_single_run_backfill_over_100_partitions_writes_100_readable_partitions(
    resources, lume_settings
):
    keys = [f"p{i:03d}" for i in range(100)]
    table = {k: {"x": float(i), "n": 4.0 + i % 5} for i, k in enumerate(keys)}
    asset = model_asset(
        RAMP,
        partitions_def=dg.StaticPartitionsDefinition(keys),
        partition_inputs=table_inputs(table),
    )
    BATCH_CALLS.clear()
    # In-memory instance: the run's 600 events cost half as much as in an on-disk SQLite
    # instance (a new engine per event), and what is checked here is ours, not Dagster's storage.
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [asset], instance=instance, resources=resources, tags=range_tags(keys[0], keys[-1])
        )
        assert result.success
        assert len(instance.get_runs()) == 1
        for name in ("result", "trace", "note"):
            done = instance.get_materialized_partitions(dg.AssetKey(["ramp", name]))
            assert done == set(keys), name
    assert BATCH_CALLS == [100]  # the whole range in one vectorized call
    root = lume_settings.resolved_files_root()
    store = resources["result_store"].get_store()
    assert store.count("ramp") == 100
    for rec in store.find("ramp"):  # every record points at its own files, sha256 included
        i = keys.index(rec.provenance.partition_key)
        trace, note = rec.provenance.files["trace"], rec.provenance.files["note"]
        assert trace.path.startswith(f"ramp/trace/{keys[i]}/")
        assert trace.sha256 == hashlib.sha256((root / trace.path).read_bytes()).hexdigest()
        with h5py.File(root / trace.path, "r") as fh:
            np.testing.assert_allclose(fh["value"][()], np.linspace(0, i, 4 + i % 5))
        assert (root / note.path).read_text().endswith(f"\nramp to {i:g}\n")
    [hit] = store.find("ramp", {"inputs.x": {"$eq": 42.0}})
    assert hit.provenance.partition_key == "p042"
    assert hit.outputs["total"] == pytest.approx(np.linspace(0, 42, 6).sum())
    assert hit.provenance.files["trace"].path == f"ramp/trace/p042/{hit.inputs_hash[:16]}.h5"

    # the same range again: every partition is a cache hit, nothing is evaluated
    BATCH_CALLS.clear()
    again = dg.materialize([asset], resources=resources, tags=range_tags(keys[0], keys[-1]))
    assert again.success and BATCH_CALLS == []
    meta = next(
        e.materialization.metadata
        for e in again.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["ramp", "result"])
    )
    assert meta["cache_hits"].value == 100


def test_time_window_partitions_take_inputs_from_the_date(resources):
    days = dg.DailyPartitionsDefinition(start_date="2026-03-01", end_date="2026-03-08")
    asset = model_asset(
        RAMP,
        partitions_def=days,
        partition_inputs=lambda day: {"x": float(datetime.fromisoformat(day).day)},
    )
    result = dg.materialize(
        [asset], resources=resources, tags=range_tags("2026-03-02", "2026-03-05")
    )
    assert result.success
    store = resources["result_store"].get_store()
    found = {r.provenance.partition_key: r.inputs["x"] for r in store.find("ramp")}
    assert found == {"2026-03-02": 2.0, "2026-03-03": 3.0, "2026-03-04": 4.0, "2026-03-05": 5.0}


def test_inbox_files_become_dynamic_partitions_run_singly_or_as_a_range(
    resources, lume_settings, tmp_path: Path
):
    inbox = tmp_path / "inbox"
    parts = dg.DynamicPartitionsDefinition(name="ramp_inputs")
    asset = model_asset(RAMP, partitions_def=parts, partition_inputs=inbox_inputs(inbox))
    sensor = build_inbox_sensor(
        InboxSensorSpec(name="ramp_inbox", inbox_dir=inbox),
        target=asset,
        inputs_model=model_inputs_validator(RAMP),
    )
    deliver(inbox, "a.yaml", "x: 3\n")
    deliver(inbox, "b.json", {"x": 5, "n": 3})
    deliver(inbox, "bad.json", {"x": 5000})
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance) as context:
            tick = sensor(context)
        error = (inbox / "rejected" / "bad.json.error.txt").read_text()
        assert "x" in error and "5000" not in error
        [add] = tick.dynamic_partitions_requests
        instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
        request = tick.run_requests[0]
        assert request.run_config == {"ops": {"ramp": {"config": {"x": 3.0, "n": 8.0}}}}
        single = dg.materialize(
            [asset],
            instance=instance,
            resources=resources,
            partition_key=request.partition_key,
            run_config=request.run_config,
            tags=request.tags,
        )
        assert single.success
        # re-evaluate every inbox partition in one run (a single-run backfill)
        BATCH_CALLS.clear()
        both = dg.materialize(
            [asset],
            instance=instance,
            resources=resources,
            tags=range_tags("a.yaml", "b.json"),
            run_config={"ops": {"ramp": {"config": {"force": True}}}},
        )
        assert both.success and BATCH_CALLS == [2]
    store = resources["result_store"].get_store()
    assert {r.inputs["n"] for r in store.find("ramp")} == {8.0, 3.0}


def test_gated_results_are_not_queryable_until_approved_with_the_cli(resources, lume_home):
    keys = ["low", "high"]
    asset = model_asset(
        RAMP,
        partitions_def=dg.StaticPartitionsDefinition(keys),
        partition_inputs=table_inputs({"low": {"x": 1.0}, "high": {"x": 9.0}}),
        requires_approval=True,
    )
    result = dg.materialize([asset], resources=resources, tags=range_tags("low", "high"))
    assert result.success
    meta = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["ramp", "result"])
    )
    assert meta["approval_status"].value == "pending"
    store = resources["result_store"].get_store()
    assert store.find("ramp") == []  # held back: not queryable
    assert len(store.find("ramp", include_unpublished=True)) == 2

    out = CliRunner().invoke(
        cli, ["approve", result.run_id, "--by", "alice"], catch_exceptions=False
    )
    assert out.exit_code == 0, out.output
    assert "approved by alice" in out.output and "2 result(s) published" in out.output
    assert sorted(r.inputs["x"] for r in store.find("ramp")) == [1.0, 9.0]
    decided = resources["approvals"].get_store().list(run_id=result.run_id)[0]
    assert decided.decided_by == "alice" and decided.decided_at <= datetime.now(UTC)


def test_rejected_results_stay_unpublished_via_the_launchpad_job(resources):
    from lume_assets.automation.gate import approve_results_job

    asset = model_asset(
        RAMP,
        partitions_def=dg.StaticPartitionsDefinition(["only"]),
        partition_inputs=table_inputs({"only": {"x": 2.0}}),
        requires_approval=True,
    )
    run = dg.materialize([asset], resources=resources, partition_key="only")
    job = approve_results_job.execute_in_process(
        run_config={
            "ops": {
                "decide_approval": {
                    "config": {
                        "target": "ramp/result",
                        "decision": "reject",
                        "by": "bob",
                        "reason": "trace too short",
                    }
                }
            }
        },
        resources=resources,
    )
    assert job.success
    [approval] = resources["approvals"].get_store().list(run_id=run.run_id)
    assert approval.status.value == "rejected" and approval.reason == "trace too short"
    assert resources["result_store"].get_store().find("ramp") == []
    observed = [e for e in job.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    assert observed and observed[0].asset_key == dg.AssetKey(["ramp", "result"])


def test_downstream_of_a_gate_cannot_read_the_result_until_it_is_approved(resources):
    from lume_assets.automation.approval import decide, store_publisher

    parts = dg.StaticPartitionsDefinition(["only"])
    gated = model_asset(
        RAMP,
        partitions_def=parts,
        partition_inputs=table_inputs({"only": {"x": 4.0}}),
        requires_approval=True,
    )

    @dg.asset(partitions_def=parts, ins={"ramp": dg.AssetIn(key=["ramp", "result"])})
    def doubled(ramp) -> float:  # noqa: ANN001 - the upstream Result
        return 2 * ramp.outputs["total"]

    run = dg.materialize([gated], resources=resources, partition_key="only")
    blocked = dg.materialize(
        [gated, doubled],
        selection=[doubled.key],
        resources=resources,
        partition_key="only",
        raise_on_error=False,
    )
    assert not blocked.success
    failure = [e for e in blocked.all_events if e.event_type_value == "STEP_FAILURE"][0]
    cause = failure.event_specific_data.error.cause
    assert cause.cls_name == "ResultNotFoundError" and "held for approval" in cause.message
    approvals = resources["approvals"].get_store()
    store = resources["result_store"].get_store()
    decide(approvals, run.run_id, "approve", "dana", publish=store_publisher(store))
    after = dg.materialize(
        [gated, doubled], selection=[doubled.key], resources=resources, partition_key="only"
    )
    assert after.output_for_node("doubled") == pytest.approx(2 * np.linspace(0, 4, 8).sum())
