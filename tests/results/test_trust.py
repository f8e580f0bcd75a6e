"""Trustworthy results: a file per result, approvals that never lose data, one cache rule.

Real files, real Dagster runs (ephemeral instance), real stores: SQLite, PostgreSQL and the
MongoDB-protocol server (the `backend` fixtures of tests/results/conftest.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import dagster as dg
import h5py
import numpy as np
import pytest

from lume_assets.assets.model_assets import model_asset
from lume_assets.automation.approval import ApprovalStore, decide, store_publisher
from lume_assets.io_managers.hdf5 import HDF5IOManager
from lume_assets.io_managers.registry import RegistryResource
from lume_assets.io_managers.results import ResultIOManager, ResultStoreResource
from lume_assets.io_managers.text import TextIOManager
from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import ArrayVariable, ScalarVariable, TextVariable
from lume_assets.storage.integrity import verify_files
from lume_assets.storage.results import Result

CALLS: list[float] = []


def wave(x: float) -> dict[str, Any]:
    """A model with an array, a scalar and a text output."""
    CALLS.append(x)
    y = np.sin(np.linspace(0.0, x, 64)) * x
    return {"y": y, "peak": float(np.abs(y).max()), "log": f"wave x={x!r}\n"}


WAVE = ModelSpec(
    name="wave",
    version="1.0",
    inputs=[ScalarVariable(name="x", value_range=(0.0, 100.0))],
    outputs=[
        ArrayVariable(name="y", shape=(64,)),
        ScalarVariable(name="peak"),
        TextVariable(name="log"),
    ],
    function=wave,
)


def resources_for(url: str, tmp_path: Path) -> dict[str, Any]:
    """Real IO managers over `tmp_path/files`, the result store at `url`, a SQLite registry."""
    files = str(tmp_path / "files")
    store = ResultStoreResource(url=url, project="proj", files_root=files)
    return {
        "result_store": store,
        "result_io_manager": ResultIOManager(result_store=store),
        "hdf5_io_manager": HDF5IOManager(root_dir=files),
        "text_io_manager": TextIOManager(root_dir=files),
        "registry": RegistryResource(url=f"sqlite:///{tmp_path / 'registry.db'}"),
    }


def test_twenty_runs_with_different_inputs_each_keep_their_own_files(
    backend_url: str, tmp_path: Path
) -> None:
    resources = resources_for(backend_url, tmp_path)
    asset = model_asset(WAVE)
    with dg.DagsterInstance.ephemeral() as instance:
        for i in range(20):
            config = {"ops": {"wave": {"config": {"x": 1.0 + i / 4}}}}
            assert dg.materialize(
                [asset], resources=resources, instance=instance, run_config=config
            ).success
    store = resources["result_store"].get_store()
    results = store.find("wave")
    assert len(results) == 20
    root = tmp_path / "files"
    paths = set()
    for rec in results:  # each record's files hold exactly its own outputs
        y, log = rec.provenance.files["y"], rec.provenance.files["log"]
        for f in (y, log):
            assert f.sha256 == hashlib.sha256((root / f.path).read_bytes()).hexdigest()
            assert rec.inputs_hash[:16] in f.path
            paths.add(f.path)
        with h5py.File(root / y.path, "r") as fh:
            np.testing.assert_array_equal(fh["value"][()], rec.outputs["y"])
            assert fh["value"].attrs["inputs_hash"] == rec.inputs_hash
            assert fh["value"].attrs["run_id"] == rec.provenance.run_id
        assert (root / log.path).read_text().endswith(rec.outputs["log"])
    assert len(paths) == 40  # nothing shared, nothing overwritten
    report = verify_files(store, root)
    assert report.ok and report.results == 20 and not report.of_kind("orphan")


def _result(x: float, published: bool) -> Result:
    return Result(model="m", version="1", inputs={"x": x}, outputs={"v": x}, published=published)


def test_a_published_result_is_never_unpublished_by_a_later_write(store) -> None:
    store.put(_result(1.0, True))
    store.put(_result(1.0, False))  # a held re-run of the same inputs
    store.put_many([_result(1.0, False), _result(2.0, False)])
    store.put_chunk([_result(1.0, False), _result(3.0, True)])
    assert store.find_one(_result(1.0, True).inputs_hash) is not None
    assert store.count("m") == 2  # 1.0 (published first) and 3.0 (published in its chunk)
    assert store.count("m", include_unpublished=True) == 3


@pytest.mark.parametrize("backend", ["mongodb"])  # SQL: a chunk is one transaction
def test_a_chunk_killed_before_it_completes_leaves_nothing_that_looks_complete(
    backend: str, store
) -> None:
    """Mongo: the documents of an unfinished chunk are unpublished and marked, and count for
    neither queries nor the cache, until a re-run completes the chunk."""
    from lume_assets.storage.mongo_store import PENDING

    half = [_result(float(x), True) for x in range(5)]
    # what a kill between the write and the flip leaves behind
    store._write_batch(
        [{**store.to_document(r), "published": False, PENDING: "killed"} for r in half]
    )
    assert store.count("m") == 0
    assert store.count("m", include_unpublished=True) == 0
    assert store.find_one(half[0].inputs_hash, include_unpublished=True) is None
    store.put_chunk(half)  # the re-run completes the chunk
    assert store.count("m") == 5 and store.count("m", include_unpublished=True) == 5


def test_overlapping_gates_agree_and_say_what_happened(store, tmp_path: Path) -> None:
    shared, only_a, only_b = (_result(float(x), False) for x in (1, 2, 3))
    store.put_many([shared, only_a, only_b])
    approvals = ApprovalStore(f"sqlite:///{tmp_path / 'registry.db'}")
    a = approvals.request("g/a", "run-a", results=[shared.inputs_hash, only_a.inputs_hash])
    b = approvals.request("g/b", "run-b", results=[shared.inputs_hash, only_b.inputs_hash])
    publish = store_publisher(store)
    [done_a] = decide(approvals, f"#{a.id}", "approve", "alice", publish=publish)
    [done_b] = decide(approvals, f"#{b.id}", "reject", "bob", reason="bad beam")
    assert "2 result(s) published" in done_a.describe()
    assert f"1 already approved by #{a.id} stay published" in done_b.describe()
    assert store.find_one(only_b.inputs_hash) is None  # rejected-only: never published
    assert store.find_one(shared.inputs_hash) is not None  # approved first: stays published
    assert approvals.decision_of(only_b.inputs_hash) == "rejected"

    # the other order: a hash rejected first is not published by a later approval ...
    late = _result(4.0, False)
    store.put(late)
    c = approvals.request("g/c", "run-c", results=[late.inputs_hash])
    d = approvals.request("g/d", "run-d", results=[late.inputs_hash])
    decide(approvals, f"#{c.id}", "reject", "bob", reason="drift")
    [done_d] = decide(approvals, f"#{d.id}", "approve", "alice", publish=publish)
    assert f"rejected by #{c.id}" in done_d.describe()
    assert store.find_one(late.inputs_hash) is None
    # ... without an explicit new decision
    decide(approvals, f"#{d.id}", "approve", "alice", publish=publish, override=True)
    assert store.find_one(late.inputs_hash) is not None
    approvals.dispose()
