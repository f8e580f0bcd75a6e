"""A scan's chunks under each chunk runner: in-process, a local process pool, Slurm jobs.

The Slurm runner runs on the real one-node cluster of tests/slurm_cluster.py. Each runner's
scan writes into its own fresh store and files under the same run id, so the stored records
and the chunk files (their sha256) must be identical, bit for bit.
"""

import hashlib
import subprocess
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from lume_assets.assets.scan_asset import scan_asset
from lume_assets.assets.scan_grid import LinSpace, ScanSpec
from lume_assets.demo.focus_model import FOCUS
from lume_assets.deploy.chunk_runners import ChunkRunner
from lume_assets.deploy.slurm import SlurmPipesClient
from lume_assets.io_managers.hdf5 import HDF5IOManager
from lume_assets.io_managers.results import ResultStoreResource
from tests.automation.test_scans import whole_range
from tests.slurm_cluster import SlurmCluster

SCAN = ScanSpec(
    name="grid",
    axes={"k": LinSpace(start=0.5, stop=5, num=13), "drift": LinSpace(start=1, stop=3, num=3)},
    chunk_size=10,  # 4 chunks, the last one of 9 points
)
RUN_ID = str(uuid.uuid4())


def run_scan(root: Path, runner: ChunkRunner) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Materialize SCAN under `runner` into `root`: its records by hash, metadata, log lines."""
    store = ResultStoreResource(url=f"sqlite:///{root / 'r.db'}", files_root=str(root / "f"))
    defs = dg.Definitions(
        assets=[scan_asset(FOCUS, SCAN)],
        resources={
            "result_store": store,
            "hdf5_io_manager": HDF5IOManager(root_dir=str(root / "f")),
            "chunk_runner": runner,
        },
    )
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance, run_id=RUN_ID, tags=whole_range(SCAN.chunk_keys())
        )
        assert result.success
        logs = [entry.user_message for entry in instance.all_logs(RUN_ID)]
    meta = result.asset_materializations_for_node("focus__grid")[0].metadata
    found = {}
    for r in store.get_store().find("focus"):
        record = r.provenance.files["scan"]
        on_disk = hashlib.sha256((root / "f" / record.path).read_bytes()).hexdigest()
        assert on_disk == record.sha256
        found[r.inputs_hash] = (r.inputs, r.outputs, record.path, record.sha256, r.published)
    assert len(found) == SCAN.size
    return found, {k: v.value for k, v in meta.items()}, logs


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The scan's records evaluated in the step's own process (the reference)."""
    found, meta, _ = run_scan(tmp_path_factory.mktemp("in_process"), ChunkRunner())
    assert meta["runner"] == "in_process"
    return found


def test_a_process_pool_gives_the_same_results_bit_for_bit(in_process, tmp_path: Path) -> None:
    found, meta, _ = run_scan(tmp_path, ChunkRunner(kind="processes", workers=2))
    assert found == in_process
    assert meta["runner"] == "processes" and meta["runner_workers"] == 2


def test_chunks_as_slurm_jobs_give_the_same_results_bit_for_bit(
    in_process, slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    slurm = SlurmPipesClient(
        work_dir=str(tmp_path / "slurm"),
        partition=slurm_cluster.partition,
        mem="200M",
        time_limit="00:05:00",
        slurm_conf=str(slurm_cluster.conf),
        poll_interval_s=0.2,
    )
    found, meta, logs = run_scan(tmp_path, ChunkRunner(kind="slurm", workers=2, slurm=slurm))
    assert found == in_process
    assert meta["runner"] == "slurm"
    # one Slurm job per chunk, each Slurm's own record, its log back in the run's log
    submitted = [m.split()[3] for m in logs if m.startswith("Submitted Slurm job")]
    assert len(submitted) == len(SCAN.chunk_keys())
    for job_id in submitted:
        shown = subprocess.run(
            ["scontrol", "show", "job", job_id],
            env=slurm_cluster.env,
            capture_output=True,
            text=True,
        ).stdout
        assert "JobState=COMPLETED" in shown and "JobName=lume-focus" in shown
    assert sum("evaluated 10 point(s) of focus" in m for m in logs) == 3
