"""The demo launched for real through LumeDockerRunLauncher, on a PostgreSQL-backed instance.

Nothing is mocked: a real dockerd, a registry-free base image (debootstrap + docker import), the
shipped deploy/docker/dagster.yaml (pointed at this machine's image, network and directories),
PostgreSQL reachable from the container over the Docker bridge, and the host directory of result
files mounted into the run container at the mount alias.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import docker
import docker.errors
import pytest
import yaml

from lume_assets.demo.definitions import build_definitions
from lume_assets.deploy.launch import DEMO_JOB, launch_job, wait_for_run
from lume_assets.deploy.placement import ModelResources, placement_tags
from lume_assets.errors import RunFailedError
from lume_assets.storage.result_stores import open_result_store
from tests.deploy.conftest import DEPLOY, REPO_ROOT, DockerSetup
from tests.deploy.docker_engine import python_mounts
from tests.servers import PostgresServer

MOUNT_ALIAS = "/lume/files"


def docker_instance_config(setup: DockerSetup, files_host: Path, dagster_home: Path) -> dict:
    """Return deploy/docker/dagster.yaml adapted to this machine (image, network, mounts)."""
    config = yaml.safe_load((DEPLOY / "docker" / "dagster.yaml").read_text())
    launcher = config["run_launcher"]["config"]
    launcher["image"] = setup.image
    launcher["network"] = setup.network
    mounts = [f"{files_host}:{MOUNT_ALIAS}"] + [
        f"{src}:{spec['bind']}:{spec['mode']}" for src, spec in python_mounts(REPO_ROOT).items()
    ]
    kwargs = launcher["container_kwargs"]
    assert kwargs["volumes"] == ["/srv/lume/files:/lume/files"]  # the shipped results mount
    kwargs["volumes"] = mounts
    # Keep the finished container so the test can inspect how it was created (the shipped
    # auto_remove: true is checked in test_deploy_configs.py); the test removes it.
    kwargs["auto_remove"] = False
    # workspace.yaml's `working_directory: .` is recorded relative; run where the host ran it
    # (the shipped image WORKDIRs into its app directory and has lume_assets pip-installed).
    kwargs["working_dir"] = str(REPO_ROOT)
    # The base image has no venv of its own: the host's is mounted read-only at the same path.
    launcher["env_vars"].append(f"PATH={Path(sys.prefix)}/bin:/usr/bin:/bin")
    # Containers reach the host's PostgreSQL at the bridge gateway (the host itself uses
    # loopback), as compose's containers reach it by the service name `postgres`.
    env_vars = launcher["env_vars"]
    env_vars[env_vars.index("DAGSTER_POSTGRES_HOST")] = f"DAGSTER_POSTGRES_HOST={setup.gateway}"
    results_url = os.environ["LUME_RESULTS_URL"].replace("127.0.0.1", setup.gateway)
    env_vars[env_vars.index("LUME_RESULTS_URL")] = f"LUME_RESULTS_URL={results_url}"
    config["local_artifact_storage"]["config"]["base_dir"] = str(dagster_home)
    return config


@pytest.fixture
def docker_instance(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lume_home: Path,
    docker_setup: DockerSetup,
    bridge_postgres: PostgresServer,
) -> Iterator[dg.DagsterInstance]:
    """A persistent instance from the Docker deployment config, on PostgreSQL."""
    files_host = tmp_path / "files"
    files_host.mkdir()
    dagster_home = Path(os.environ["DAGSTER_HOME"])  # a fresh dir from the lume_home fixture
    db = f"dagster_{tmp_path.name.replace('-', '_').lower()}"
    bridge_postgres.database_url(db)
    env = {
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_POSTGRES_HOST": "127.0.0.1",
        "DAGSTER_POSTGRES_PORT": str(bridge_postgres.port),
        "DAGSTER_POSTGRES_USER": "postgres",
        "DAGSTER_POSTGRES_PASSWORD": "unused-trust-auth",
        "DAGSTER_POSTGRES_DB": db,
        "LUME_FILES_ROOT": str(files_host),
        "LUME_MOUNT_ALIAS": MOUNT_ALIAS,
        "LUME_RESULTS_URL": bridge_postgres.database_url("lume_results"),
        "LUME_MONGO_PASSWORD": "unused",
        "LUME_PROJECT": "docker_test",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = docker_instance_config(docker_setup, files_host, dagster_home)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    instance = dg.DagsterInstance.get()
    try:
        yield instance
    finally:
        # auto_remove is off in this test: remove this instance's run containers, pass or fail.
        run_ids = {r.run_id for r in instance.get_runs()}
        client = docker_setup.engine.client
        for container in client.containers.list(all=True, filters={"label": "dagster/run_id"}):
            if container.labels.get("dagster/run_id") in run_ids:
                container.remove(force=True)
        instance.dispose()


def container_logs(instance: dg.DagsterInstance, run_id: str) -> str:
    """Return the output of the run's container (for failure messages)."""
    container_id = instance.get_run_by_id(run_id).tags.get("docker/container_id")
    if not container_id:
        return "(no container was created)"
    try:
        return docker.from_env().containers.get(container_id).logs().decode(errors="replace")
    except docker.errors.NotFound:
        return f"(container {container_id} is gone)"


def test_demo_runs_in_a_docker_container_and_results_land_on_the_host(
    docker_instance: dg.DagsterInstance, docker_setup: DockerSetup, tmp_path: Path
) -> None:
    """The demo job runs in a container launched by LumeDockerRunLauncher and succeeds."""
    instance = docker_instance
    model = ModelResources(cpu="1", memory="768Mi")
    t0 = time.monotonic()
    run_id = launch_job(
        instance,
        REPO_ROOT / "workspace.yaml",
        DEMO_JOB,
        tags=placement_tags(model),
        bypass_queue=True,
    )
    try:
        run = wait_for_run(instance, run_id, timeout=240)
    except RunFailedError as exc:
        pytest.fail(f"{exc}\n--- run container logs ---\n{container_logs(instance, run_id)}")
    elapsed = time.monotonic() - t0
    print(f"\n[docker] demo run {run_id} in a container: {elapsed:.1f} s")

    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert type(instance.run_launcher).__name__ == "LumeDockerRunLauncher"
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"

    # Every asset of group "demo" was materialized, recorded in PostgreSQL.
    graph = build_definitions().resolve_asset_graph()
    demo_keys = {
        key
        for key in dg.AssetSelection.groups("demo").resolve(graph)
        if graph.get(key).partitions_def is None
    }
    materialized = {
        e.dagster_event.asset_key
        for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    }
    assert demo_keys and demo_keys <= materialized

    # The run worker really was a container: created from our image, on our network, with the
    # results directory mounted at the alias and the model's CPU/memory applied.
    container_id = instance.get_run_by_id(run_id).tags["docker/container_id"]
    attrs = docker_setup.engine.client.containers.get(container_id).attrs
    assert attrs["Config"]["Image"] == docker_setup.image
    assert attrs["State"]["ExitCode"] == 0
    assert docker_setup.network in attrs["NetworkSettings"]["Networks"]
    assert any(b.endswith(f":{MOUNT_ALIAS}") for b in attrs["HostConfig"]["Binds"])
    assert attrs["HostConfig"]["NanoCpus"] == 1_000_000_000
    assert attrs["HostConfig"]["Memory"] == 768 * 1024**2

    # Results were written inside the container through /lume/files, but the paths recorded
    # for them (asset metadata, stored in PostgreSQL) are host paths, and the files are there.
    files_host = tmp_path / "files"
    recorded_files = [
        (record.asset_materialization.asset_key, Path(meta["path"].value))
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        if "path" in (meta := record.asset_materialization.metadata)
    ]
    assert recorded_files, "the demo recorded no file paths"
    for key, recorded in recorded_files:
        assert recorded.is_relative_to(files_host), (key, recorded)
        assert recorded.exists(), (key, recorded, sorted(files_host.rglob("*")))
    assert not any(files_host.rglob(".*.tmp-*")), "a half-written temp file was left behind"

    # Demo assets stored through the result IO manager are in the result store (PostgreSQL,
    # written from the container over the bridge, read here over loopback).
    stored_keys = {key for key in demo_keys if graph.get(key).io_manager_key == "result_io_manager"}
    with open_result_store(os.environ["LUME_RESULTS_URL"], project="docker_test") as store:
        in_run = {r.provenance.asset_key for r in store.find() if r.provenance.run_id == run_id}
    assert {key.to_user_string() for key in stored_keys} <= in_run
