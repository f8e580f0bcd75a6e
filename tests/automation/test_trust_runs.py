"""One cache rule for every builder, approvals that survive a killed re-scan, verify/gc/rerun.

Real Dagster runs on SQLite stores and real files; the killed re-scan is a forked process
stopped with SIGKILL at a random moment.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from lume_assets.assets.model_assets import model_asset
from lume_assets.assets.scan_asset import scan_asset
from lume_assets.assets.scan_grid import ScanSpec
from lume_assets.automation.approval import decide, store_publisher
from lume_assets.automation.model_partitions import table_inputs
from lume_assets.cli import cli
from lume_assets.io_managers.registry import RegistryResource
from lume_assets.io_managers.results import ResultIOManager
from lume_assets.storage.integrity import verify_files
from lume_assets.storage.results import Provenance, Result
from tests.automation.conftest import cheap_model, make_cheap_spec

HELD = {"x": 1.0, "y": 2.0}


def whole_range(keys: list[str]) -> dict[str, str]:
    """Tags of a single-run backfill over `keys`."""
    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


@pytest.fixture
def resources(scan_resources: dict, tmp_path: Path) -> dict[str, Any]:
    """scan_resources plus the result IO manager and a registry."""
    return {
        **scan_resources,
        "result_io_manager": ResultIOManager(result_store=scan_resources["result_store"]),
        "registry": RegistryResource(url=f"sqlite:///{tmp_path / 'registry.db'}"),
    }


def _unpartitioned(spec: Any) -> tuple[list, dict]:
    return [model_asset(spec)], {"run_config": {"ops": {"cheap": {"config": HELD}}}}


def _partitioned(spec: Any) -> tuple[list, dict]:
    parts = dg.StaticPartitionsDefinition(["held", "other"])
    table = {"held": HELD, "other": {"x": 5.0, "y": 5.0}}
    asset = model_asset(spec, partitions_def=parts, partition_inputs=table_inputs(table))
    return [asset], {"partition_key": "held"}


def _backfill(spec: Any) -> tuple[list, dict]:
    [asset], _ = _partitioned(spec)
    return [asset], {"tags": whole_range(["held", "other"])}


def _scan(spec: Any) -> tuple[list, dict]:
    scan = ScanSpec(name="grid", axes={"x": [1.0, 5.0]}, fixed={"y": 2.0}, chunk_size=2)
    return [scan_asset(spec, scan)], {"tags": whole_range(scan.chunk_keys())}


@pytest.mark.parametrize(
    "build", [_unpartitioned, _partitioned, _backfill, _scan], ids=lambda f: f.__name__[1:]
)
def test_a_held_result_is_treated_alike_by_every_builder(resources, build) -> None:
    calls: list[dict] = []
    spec = make_cheap_spec(batch=False)

    def counted(x: float, y: float, gain: float = 1.0) -> dict:
        calls.append({"x": x, "y": y})
        return {"r": gain * (x * x + y * y) ** 0.5, "p": gain * x * y}

    spec = spec.model_copy(update={"function": counted})
    store = resources["result_store"].get_store()
    inputs = spec.validate_inputs(HELD)
    held = Result(
        model=spec.name,
        version=spec.version,
        inputs=inputs,
        outputs=spec.evaluate(inputs),
        published=False,  # waiting at an approval gate
        provenance=Provenance(run_id="gated-run"),
    )
    store.put(held)
    calls.clear()
    assets, how = build(spec)
    assert dg.materialize(assets, resources=resources, **how).success
    after = store.find_one(held.inputs_hash, include_unpublished=True)
    assert after is not None and after.published is False  # still held
    assert after.provenance.run_id == "gated-run"  # reused, not re-evaluated
    assert HELD not in calls
    assert store.find_one(held.inputs_hash) is None  # not queryable


X_A = [0.25 * i for i in range(20)]
Y = [0.5 * j for j in range(10)]
POINT_SECONDS = 0.01  # the re-scan's model is slow enough that a kill lands inside its run
NEW_POINTS = 200  # the points of each re-scan that are not stored yet (20 fresh x, 10 y)
#: In the forked re-scan: the event its model sets at the first new point, and its calls.
_first_point: Any = None
_calls = 0


def _slow_cheap(x: float, y: float, gain: float = 1.0) -> dict:
    """The cheap model, 10 ms per point (no batch function).

    It signals its first point, and never returns from the last new point: the re-scan cannot
    finish before the test kills it, however the two processes are scheduled.
    """
    global _calls
    _calls += 1
    if _calls == 1 and _first_point is not None:
        _first_point.set()
    time.sleep(POINT_SECONDS if _calls < NEW_POINTS else 600)
    return cheap_model(x, y, gain)


def _rescan(resources: dict, round_no: int, started) -> None:  # runs in the forked child
    spec = make_cheap_spec(batch=False).model_copy(update={"function": _slow_cheap})
    fresh = [0.1 + 0.01 * round_no + 0.125 * i for i in range(20)]  # new points every round
    scan = ScanSpec(
        name="grid", axes={"x": X_A + fresh, "y": Y}, fixed={"gain": 2.0}, chunk_size=20
    )
    asset = scan_asset(spec, scan, requires_approval=True)
    global _first_point
    _first_point = started  # set by the model itself: the re-scan is evaluating points
    dg.materialize([asset], resources=resources, tags=whole_range(scan.chunk_keys()))
    os._exit(0)


def test_approved_results_survive_re_scans_killed_at_random_points(resources) -> None:
    spec = make_cheap_spec()
    first = ScanSpec(name="grid", axes={"x": X_A, "y": Y}, fixed={"gain": 2.0}, chunk_size=50)
    asset = scan_asset(spec, first, requires_approval=True)
    run = dg.materialize([asset], resources=resources, tags=whole_range(first.chunk_keys()))
    store = resources["result_store"].get_store()
    approvals = resources["approvals"].get_store()
    decide(approvals, run.run_id, "approve", "alice", publish=store_publisher(store))
    approved = [r.inputs_hash for r in store.find("cheap")]
    assert len(approved) == first.size == 200
    root = Path(resources["hdf5_io_manager"].root_dir)
    fork = multiprocessing.get_context("fork")
    rng = random.Random(11)
    killed = 0
    for round_no in range(8):
        started = fork.Event()
        child = fork.Process(target=_rescan, args=(resources, round_no, started))
        child.start()
        # a real condition, however slow the machine: the re-scan evaluates its first new point
        assert started.wait(600), "the re-scan never reached its model"
        # 198 more new points at >= 10 ms each before the last one, which never returns: the
        # kill lands while the re-scan evaluates points or writes its chunks
        time.sleep(rng.uniform(0.05, 1.8))
        assert child.pid is not None and child.is_alive()
        os.kill(child.pid, signal.SIGKILL)
        killed += 1
        child.join()
        assert child.exitcode == -signal.SIGKILL  # killed, not finished
        published = store.count("cheap", {"inputs_hash": {"$in": approved}})
        assert published == 200  # every approved result stays published and queryable
        report = verify_files(store, root)
        assert report.ok, report.of_kind("missing", "mismatch")[:3]
    assert killed == 8  # every random moment landed inside a running re-scan


def test_verify_gc_and_rerun_on_the_demo_model(lume_home: Path, monkeypatch) -> None:
    from lume_assets import serving
    from lume_assets.demo.beam_model import BEAM_ENVELOPE
    from lume_assets.serving import build_resources

    resources = build_resources()
    config = {"ops": {"beam_envelope": {"config": {"k_f": 2.31}}}}
    assert dg.materialize(
        [model_asset(BEAM_ENVELOPE)], resources=resources, run_config=config
    ).success
    config = {"ops": {"beam_envelope": {"config": {"k_f": 2.41}}}}
    assert dg.materialize(
        [model_asset(BEAM_ENVELOPE)], resources=resources, run_config=config
    ).success
    store = resources["result_store"].get_store()
    first, second = store.find("beam_envelope", sort=[("inputs.k_f", 1)])
    root = lume_home / "files"
    runner = CliRunner()

    ok = runner.invoke(cli, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert "0 missing or changed" in ok.output

    # rerun: bit-identical from the record alone
    same = runner.invoke(cli, ["rerun", first.inputs_hash])
    assert same.exit_code == 0, same.output
    assert "every output is bit-identical" in same.output

    # gc: an orphan and a stale temp file go, nothing referenced does
    orphan = root / "beam_envelope" / "sigma_x" / "0123456789abcdef.h5"
    orphan.write_bytes(b"left by a killed run")
    stale = root / "beam_envelope" / "s" / ".x.h5.tmp-0a1b2c3d4e5f"  # writer unknown
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    listed = runner.invoke(cli, ["verify"])
    assert listed.exit_code == 0 and "orphan" in listed.output and "stale-temp" in listed.output
    dry = runner.invoke(cli, ["gc", "--dry-run"])
    assert "would remove 2 file(s)" in dry.output and orphan.exists()
    swept = runner.invoke(cli, ["gc"])
    assert "removed 2 file(s)" in swept.output, swept.output
    assert not orphan.exists() and not stale.exists()
    for rec in (first, second):
        assert all((root / f.path).is_file() for f in rec.provenance.files.values())

    # verify fails on one corrupted byte and on a deleted file
    corrupted = root / first.provenance.files["sigma_x"].path
    data = bytearray(corrupted.read_bytes())
    data[-1] ^= 0x01
    corrupted.write_bytes(bytes(data))
    (root / second.provenance.files["report"].path).unlink()
    bad = runner.invoke(cli, ["verify", "beam_envelope"])
    assert bad.exit_code == 1
    assert "mismatch" in bad.output and "missing" in bad.output

    # rerun refuses once the deployed model's source changed
    def changed(**inputs: Any) -> dict:
        return BEAM_ENVELOPE.function(**inputs)

    edited = BEAM_ENVELOPE.model_copy(update={"function": changed})
    monkeypatch.setitem(serving.SERVED, (BEAM_ENVELOPE.name, BEAM_ENVELOPE.version), edited)
    refused = runner.invoke(cli, ["rerun", first.inputs_hash])
    assert refused.exit_code != 0
    assert "source changed" in refused.output
