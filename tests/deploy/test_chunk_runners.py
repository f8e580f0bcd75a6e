"""A scan's chunks under each chunk runner: in-process, a process pool, Slurm, Docker, Kubernetes.

Each runner's scan writes into its own fresh store and files under the same run id, so the
stored records and the chunk files (their sha256) must be identical, bit for bit, to the
in-process runner's. The Slurm runner runs on the real one-node cluster of
tests/slurm_cluster.py; the Docker runner on the real dockerd of the deploy tests (their
registry-free base image, this venv and repo mounted read-only). No Kubernetes cluster exists
here: for the k8s runner only the Kubernetes API calls are replaced (tests/deploy/fake_k8s.py
runs each created Job's container command as a local process); the Job manifests our code
rendered are recorded and must pass `kubernetes-validate --strict`.
"""

import hashlib
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from lume_assets.assets.scan_asset import scan_asset
from lume_assets.assets.scan_grid import LinSpace, ScanSpec
from lume_assets.demo.focus_model import FOCUS
from lume_assets.deploy.chunk_jobs import DockerChunkClient, K8sChunkClient
from lume_assets.deploy.chunk_runners import ChunkRunner
from lume_assets.deploy.slurm import SlurmPipesClient
from lume_assets.errors import ChunkJobError
from lume_assets.io_managers.hdf5 import HDF5IOManager
from lume_assets.io_managers.results import ResultStoreResource
from lume_assets.models.model import ModelResources
from tests.automation.test_scans import whole_range
from tests.deploy.conftest import REPO_ROOT, DockerSetup
from tests.deploy.docker_engine import python_mounts
from tests.deploy.fake_k8s import FakeKubernetes, fake_k8s  # noqa: F401 - fixture
from tests.deploy.k8s_manifests import validate_strict
from tests.slurm_cluster import SlurmCluster

SCAN = ScanSpec(
    name="grid",
    axes={"k": LinSpace(start=0.5, stop=5, num=13), "drift": LinSpace(start=1, stop=3, num=3)},
    chunk_size=10,  # 4 chunks, the last one of 9 points
)
RUN_ID = str(uuid.uuid4())
#: the focus model with the compute each chunk job asks for (the jobs import plain FOCUS)
SPEC = FOCUS.model_copy(
    update={
        "resources": ModelResources(
            cpu="1", memory="512Mi", node_selector={"lume.example.org/pool": "cpu"}
        )
    }
)
MODEL_REFS = {"focus": "lume_assets.demo.focus_model:FOCUS"}


def run_scan(root: Path, runner: ChunkRunner) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Materialize SCAN under `runner` into `root`: its records by hash, metadata, log lines."""
    store = ResultStoreResource(url=f"sqlite:///{root / 'r.db'}", files_root=str(root / "f"))
    defs = dg.Definitions(
        assets=[scan_asset(SPEC, SCAN)],
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


def slurm_runner(request: pytest.FixtureRequest, work_dir: Path) -> ChunkRunner:
    """Chunks as jobs on the session's Slurm cluster."""
    cluster: SlurmCluster = request.getfixturevalue("slurm_cluster")
    slurm = SlurmPipesClient(
        work_dir=str(work_dir),
        partition=cluster.partition,
        mem="200M",
        time_limit="00:05:00",
        slurm_conf=str(cluster.conf),
        poll_interval_s=0.2,
    )
    return ChunkRunner(kind="slurm", workers=2, slurm=slurm, model_refs=MODEL_REFS)


def docker_runner(request: pytest.FixtureRequest, work_dir: Path) -> ChunkRunner:
    """Chunks as containers on the deploy tests' dockerd (this venv and repo mounted)."""
    setup: DockerSetup = request.getfixturevalue("docker_setup")
    docker = DockerChunkClient(
        image=setup.image,
        work_dir=str(work_dir),
        python=sys.executable,
        volumes=[f"{src}:{m['bind']}:{m['mode']}" for src, m in python_mounts(REPO_ROOT).items()],
        working_dir=str(REPO_ROOT),
        env={"PATH": f"{Path(sys.prefix)}/bin:/usr/bin:/bin"},
    )
    return ChunkRunner(kind="docker", workers=2, docker=docker, model_refs=MODEL_REFS)


def k8s_runner(request: pytest.FixtureRequest, work_dir: Path) -> ChunkRunner:
    """Chunks as Kubernetes Jobs, the API replaced by `FakeKubernetes`."""
    request.getfixturevalue("fake_k8s")
    k8s = K8sChunkClient(
        image="registry.example.org/lume/assets:1.0",
        work_dir=str(work_dir),
        work_dir_claim="lume-work",
        namespace="lume",
        python=sys.executable,
        image_pull_secrets=["regcred"],
        poll_interval_s=0.05,
    )
    return ChunkRunner(kind="k8s", workers=2, k8s=k8s, model_refs=MODEL_REFS)


RUNNERS = {
    "processes": lambda request, work_dir: ChunkRunner(kind="processes", workers=2),
    "slurm": slurm_runner,
    "docker": docker_runner,
    "k8s": k8s_runner,
}


@pytest.mark.parametrize("kind", list(RUNNERS))
def test_every_runner_stores_the_same_results_bit_for_bit(
    kind: str, in_process: dict[str, Any], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    runner = RUNNERS[kind](request, tmp_path / "jobs")
    started = time.time()
    found, meta, logs = run_scan(tmp_path, runner)
    assert found == in_process
    assert meta["runner"] == kind and meta["runner_workers"] == 2
    if kind in ("slurm", "docker", "k8s"):  # the worker's Pipes log came back from each job
        assert sum("evaluated 10 point(s) of focus" in m for m in logs) == 3
        assert sum("evaluated 9 point(s) of focus" in m for m in logs) == 1
    CHECKS.get(kind, lambda *a: None)(request, logs, started)


def check_slurm(request: pytest.FixtureRequest, logs: list[str], started: float) -> None:
    """One Slurm job per chunk, each Slurm's own record."""
    cluster: SlurmCluster = request.getfixturevalue("slurm_cluster")
    submitted = [m.split()[3] for m in logs if m.startswith("Submitted Slurm job")]
    assert len(submitted) == len(SCAN.chunk_keys())
    for job_id in submitted:
        shown = subprocess.run(
            ["scontrol", "show", "job", job_id], env=cluster.env, capture_output=True, text=True
        ).stdout
        assert "JobState=COMPLETED" in shown and "JobName=lume-focus" in shown
        # the memory the model declares, not the client's mem=200M default
        assert "MinMemoryNode=512M" in shown


def check_docker(request: pytest.FixtureRequest, logs: list[str], started: float) -> None:
    """One container per chunk, from the configured image, seen by dockerd; none left behind."""
    setup: DockerSetup = request.getfixturevalue("docker_setup")
    events = setup.engine.client.events(
        since=int(started) - 1,
        until=int(time.time()) + 1,
        filters={"type": "container", "event": "start", "label": f"lume.run_id={RUN_ID}"},
        decode=True,
    )
    started_containers = [e["Actor"]["Attributes"] for e in events]
    assert len(started_containers) == len(SCAN.chunk_keys())
    assert len({a["lume.chunk"] for a in started_containers}) == len(SCAN.chunk_keys())
    assert all(a["image"] == setup.image for a in started_containers)
    assert all(a["name"].startswith("lume-focus-") for a in started_containers)
    assert sum(m.startswith("Starting chunk container lume-focus-") for m in logs) == 4
    left = setup.engine.client.containers.list(all=True, filters={"label": f"lume.run_id={RUN_ID}"})
    assert left == []


def check_k8s(request: pytest.FixtureRequest, logs: list[str], started: float) -> None:
    """One Job per chunk with the model's resources, valid for Kubernetes, deleted after."""
    fake: FakeKubernetes = request.getfixturevalue("fake_k8s")
    jobs = fake.created
    assert len(jobs) == len(SCAN.chunk_keys())
    assert sorted(fake.deleted) == sorted(j["metadata"]["name"] for j in jobs)
    ok, output = validate_strict(jobs)
    assert ok, output
    for job in jobs:
        pod = job["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["resources"] == {
            "requests": {"cpu": "1", "memory": "512Mi"},
            "limits": {"memory": "512Mi"},
        }
        assert pod["nodeSelector"] == {"lume.example.org/pool": "cpu"}
        assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "lume-work"}
        assert job["metadata"]["namespace"] == "lume" and job["spec"]["backoffLimit"] == 0
        assert "DAGSTER_PIPES_CONTEXT" in {e["name"] for e in container["env"]}
    assert sum(m.startswith("Created Kubernetes Job lume/lume-focus-") for m in logs) == 4


CHECKS = {"slurm": check_slurm, "docker": check_docker, "k8s": check_k8s}


@pytest.mark.parametrize("kind", ["docker", "k8s"])
def test_a_failing_chunk_job_is_one_clear_error(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    client = getattr(RUNNERS[kind](request, tmp_path / "jobs"), kind)

    @dg.asset
    def chunk(context: dg.AssetExecutionContext) -> None:
        client.evaluate_chunk(context, "tests.deploy.slurm_models:NO_SUCH_MODEL", [{"x": 1.0}])

    where = "chunk container lume-no-such-model-" if kind == "docker" else "Kubernetes Job lume/"
    with pytest.raises(ChunkJobError, match=f"{where}.* failed"):
        dg.materialize([chunk])
    assert not list((tmp_path / "jobs" / "chunks").iterdir())  # chunk files cleaned up
