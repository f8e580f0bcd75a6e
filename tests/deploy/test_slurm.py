"""Model chunks as jobs on a real one-node Slurm cluster (tests/slurm_cluster.py)."""

import subprocess
import threading
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from lume_assets.demo.focus_model import FOCUS
from lume_assets.deploy.slurm import SlurmPipesClient
from lume_assets.errors import SlurmJobError
from lume_assets.storage.result_stores import open_result_store
from lume_assets.storage.results import Provenance, Result
from tests.slurm_cluster import SlurmCluster

ROOT = str(Path(__file__).resolve().parents[2])


def client(cluster: SlurmCluster, tmp_path: Path) -> SlurmPipesClient:
    """A client for the test cluster, sharing `tmp_path` with the node (the same machine)."""
    return SlurmPipesClient(
        work_dir=str(tmp_path / "slurm"),
        partition=cluster.partition,
        cpus=1,
        mem="200M",
        time_limit="00:05:00",
        slurm_conf=str(cluster.conf),
        poll_interval_s=0.2,
    )


def test_a_chunk_of_model_points_runs_as_a_slurm_job(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    points = [
        {"k": float(k), "drift": float(d), "emittance": 1e-6}
        for k, d in zip(rng.uniform(0.5, 5, 40), rng.uniform(0.5, 5, 40), strict=True)
    ]
    store_url = f"sqlite:///{tmp_path / 'results.db'}"
    seen: dict = {}

    @dg.asset
    def focus_chunk(
        context: dg.AssetExecutionContext, slurm: SlurmPipesClient
    ) -> dg.MaterializeResult:
        outputs, summary = slurm.evaluate_chunk(
            context, "lume_assets.demo.focus_model:FOCUS", points, env={"PYTHONPATH": ROOT}
        )
        with open_result_store(store_url, project="slurm") as store:
            store.put_many(
                Result(
                    model=FOCUS.name,
                    version=FOCUS.version,
                    inputs=p,
                    outputs=o,
                    provenance=Provenance(run_id=context.run.run_id, asset_key="focus_chunk"),
                )
                for p, o in zip(points, outputs, strict=True)
            )
        seen.update(outputs=outputs, summary=summary)
        return dg.MaterializeResult(metadata={"slurm_job_id": summary["slurm_job_id"]})

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [focus_chunk], resources={"slurm": client(slurm_cluster, tmp_path)}, instance=instance
    )
    assert result.success
    job_id = seen["summary"]["slurm_job_id"]
    # the same numbers, bit for bit, as evaluating the chunk here
    local = FOCUS.evaluate_batch(points)
    assert [o["sigma"] for o in seen["outputs"]] == [o["sigma"] for o in local]
    assert [o["focal_length"] for o in seen["outputs"]] == [o["focal_length"] for o in local]
    # the job is Slurm's own record, and its log and summary came back through Pipes
    shown = subprocess.run(
        ["scontrol", "show", "job", job_id], env=slurm_cluster.env, capture_output=True, text=True
    ).stdout
    assert "JobState=COMPLETED" in shown and "JobName=lume-focus" in shown
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("evaluated 40 point(s) of focus" in m for m in messages)
    assert any(f"Submitted Slurm job {job_id}" in m for m in messages)
    assert seen["summary"]["points"] == 40
    mat = result.asset_materializations_for_node("focus_chunk")[0]
    assert mat.metadata["slurm_job_id"].value == job_id
    with open_result_store(store_url, project="slurm") as store:
        assert store.count("focus") == 40
        got = store.find_one(Result(model="focus", version="1.0", inputs=points[3]).inputs_hash)
        assert got is not None and got.outputs["sigma"] == local[3]["sigma"]


def test_a_cancelled_job_fails_clearly_and_the_retry_completes(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    marker = tmp_path / "first_job"
    env = {"PYTHONPATH": ROOT, "LUME_TEST_SLURM_MARKER": str(marker)}
    slurm = client(slurm_cluster, tmp_path)
    outputs: list = []

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=1))
    def chunk(context: dg.AssetExecutionContext, slurm: SlurmPipesClient) -> dg.MaterializeResult:
        out, _ = slurm.evaluate_chunk(
            context, "tests.deploy.slurm_models:HANGS_ONCE", [{"x": 1.5}, {"x": 2.0}], env=env
        )
        outputs.extend(out)
        return dg.MaterializeResult()

    def cancel_first_job() -> None:
        deadline = time.monotonic() + 600  # the first job's start, however slow the node
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        subprocess.run(["scancel", marker.read_text()], env=slurm_cluster.env, check=True)

    canceller = threading.Thread(target=cancel_first_job)
    canceller.start()
    result = dg.materialize([chunk], resources={"slurm": slurm}, raise_on_error=False)
    canceller.join()
    assert result.success, "the retry should have completed the chunk"
    assert [o["y"] for o in outputs] == [3.0, 4.0]
    failures = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(failures) == 1
    first = marker.read_text()
    state = subprocess.run(
        ["scontrol", "show", "job", first], env=slurm_cluster.env, capture_output=True, text=True
    ).stdout
    assert "JobState=CANCELLED" in state


def test_a_job_slurm_refuses_is_one_clear_error(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    slurm = client(slurm_cluster, tmp_path).model_copy(update={"partition": "no_such_partition"})

    @dg.asset
    def refused(context: dg.AssetExecutionContext) -> None:
        slurm.evaluate_chunk(
            context, "lume_assets.demo.focus_model:FOCUS", [{"k": 1.0, "drift": 1.0}]
        )

    with pytest.raises(SlurmJobError, match="sbatch.*partition"):
        dg.materialize([refused])
