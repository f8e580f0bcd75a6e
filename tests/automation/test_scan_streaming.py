"""Scans stream: a file per chunk by content, and O(1) materialization metadata per chunk."""

import hashlib
import json
from pathlib import Path
from typing import Any

import dagster as dg
import h5py
import pytest

from lume_assets.assets.scan_asset import scan_asset
from lume_assets.assets.scan_grid import LinSpace, ScanSpec
from lume_assets.demo.focus_model import FOCUS
from lume_assets.deploy.chunk_runners import ChunkRunner
from lume_assets.errors import DeploymentError
from lume_assets.io_managers.hdf5 import HDF5IOManager
from lume_assets.io_managers.results import ResultStoreResource
from tests.automation.test_scans import whole_range


def grid(chunk_size: int, name: str = "grid") -> ScanSpec:
    """The same 240-point focus scan, cut into chunks of `chunk_size`."""
    return ScanSpec(
        name=name,
        axes={"k": LinSpace(start=0.5, stop=5, num=24), "drift": LinSpace(start=1, stop=3, num=10)},
        chunk_size=chunk_size,
    )


def resources(root: Path, runner: ChunkRunner | None = None) -> dict[str, Any]:
    """Fresh SQLite store and HDF5 files under `root`."""
    return {
        "result_store": ResultStoreResource(
            url=f"sqlite:///{root / 'results.db'}", files_root=str(root / "files")
        ),
        "hdf5_io_manager": HDF5IOManager(root_dir=str(root / "files")),
        "chunk_runner": runner or ChunkRunner(),
    }


def event_sizes(instance: dg.DagsterInstance, key: dg.AssetKey) -> list[int]:
    """Bytes of metadata (as JSON) in each stored materialization event of `key`."""
    records = instance.fetch_materializations(key, limit=10_000).records
    return [
        len(json.dumps({k: repr(v.value) for k, v in r.asset_materialization.metadata.items()}))
        for r in records
    ]


def test_metadata_per_chunk_does_not_grow_with_chunks_and_each_chunk_has_its_file(
    tmp_path: Path,
) -> None:
    sizes = {}
    for chunk_size in (120, 30):  # 2 chunks, then 8 chunks of the same scan
        scan = grid(chunk_size)
        asset = scan_asset(FOCUS, scan)
        root = tmp_path / f"c{chunk_size}"
        res = resources(root)
        with dg.DagsterInstance.ephemeral() as instance:
            run = dg.materialize(
                [asset], instance=instance, resources=res, tags=whole_range(scan.chunk_keys())
            )
            assert run.success
            sizes[chunk_size] = event_sizes(instance, asset.key)
            assert len(sizes[chunk_size]) == len(scan.chunk_keys())
        store = res["result_store"].get_store()
        assert store.count("focus") == 240
        # every chunk: its own file, named by the digest of its points, holding exactly them
        stored = store.find("focus")
        for chunk in scan.chunk_keys():
            hits = [r for r in stored if r.provenance.partition_key == chunk]
            assert len(hits) == chunk_size
            [record] = {r.provenance.files["scan"] for r in hits}
            path = root / "files" / record.path
            assert hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256
            with h5py.File(path) as fh:
                in_file = {h.decode() for h in fh["inputs_hash"][()]}
            assert in_file == {r.inputs_hash for r in hits}
    # 4x the chunks, the same bytes per event (only partition names/paths vary in length)
    assert max(sizes[30]) <= max(sizes[120]) + 64, sizes


def test_a_model_that_cannot_reach_worker_processes_is_one_clear_error(tmp_path: Path) -> None:
    local = FOCUS.model_copy(update={"function": lambda k, drift, emittance: {}})
    scan = grid(120, "local")
    runner = ChunkRunner(kind="processes", workers=1)
    with pytest.raises(DeploymentError, match="cannot be sent to worker processes"):
        dg.materialize(
            [scan_asset(local, scan)],
            resources=resources(tmp_path, runner),
            tags=whole_range(scan.chunk_keys()),
        )
