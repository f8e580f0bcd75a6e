"""The shipped deployment files agree with each other and with lume_assets.

Parsed, not grepped: the compose file, Helm values, dagster.yaml files, workspace, Dockerfile and
Kubernetes manifests must name the same services, env vars, secrets, volumes and paths, and every
Kubernetes object (shipped or rendered from the Helm values) must pass
`kubernetes-validate --strict`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config_schema
from dagster_docker import DockerRunLauncher
from dagster_k8s.job import DAGSTER_PG_PASSWORD_SECRET_KEY

from lume_assets.settings import LumeSettings
from tests.deploy.conftest import DEPLOY, REPO_ROOT
from tests.deploy.k8s_manifests import manifest_documents, validate_files, validate_strict

DOCKER = DEPLOY / "docker"
K8S = DEPLOY / "k8s"


def load(path: Path) -> Any:
    """Parse one YAML file."""
    return yaml.safe_load(path.read_text())


def env_name(value: Any) -> str | None:
    """Return the env var name of a `{env: NAME}` config value, else None."""
    return value.get("env") if isinstance(value, dict) else None


def lume_env_names(names: list[str]) -> set[str]:
    """Return the LUME_* names among env var names (and NAME=VALUE entries)."""
    return {n.split("=", 1)[0] for n in names if n.startswith("LUME_")}


def env_refs(config: Any) -> set[str]:
    """Return every env var name referenced as `{env: NAME}` anywhere in `config`."""
    if isinstance(config, dict):
        name = env_name(config)
        return {name} if name and len(config) == 1 else set().union(*map(env_refs, config.values()))
    if isinstance(config, list):
        return set().union(set(), *map(env_refs, config))
    return set()


def assert_valid_instance_config(config: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Assert `config` passes Dagster's dagster.yaml schema (env vars set to placeholders)."""
    for name in env_refs(config) - set(os.environ):
        monkeypatch.setenv(name, "5432" if name.endswith("_PORT") else "placeholder")
    result = process_config(dagster_instance_config_schema(), config)
    assert result.success, [e.message for e in result.errors]


# -- top-level (local) dagster.yaml --------------------------------------------------------------
def test_local_instance_is_sqlite_with_a_queued_coordinator(
    lume_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repo's dagster.yaml: SQLite under DAGSTER_HOME, queued runs with a limit."""
    config = load(REPO_ROOT / "dagster.yaml")
    assert_valid_instance_config(config, monkeypatch)
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == 4
        assert type(instance.run_launcher).__name__ == "LocalRunLauncher"  # a DefaultRunLauncher
        assert instance.run_monitoring_enabled  # dead run workers are failed by the daemon
    assert (dagster_home / "history").is_dir()  # SQLite storage lives under DAGSTER_HOME


# -- Docker -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict:
    """deploy/docker/docker-compose.yaml, with the x-dagster-env anchor resolved by YAML."""
    return load(DOCKER / "docker-compose.yaml")


def test_docker_instance_config_is_valid_and_uses_the_placing_launcher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """deploy/docker/dagster.yaml: PostgreSQL from env vars, LumeDockerRunLauncher, auto_remove."""
    config = load(DOCKER / "dagster.yaml")
    assert_valid_instance_config(config, monkeypatch)
    from lume_assets.deploy.docker_launcher import LumeDockerRunLauncher

    assert issubclass(LumeDockerRunLauncher, DockerRunLauncher)
    assert config["run_launcher"]["class"] == "LumeDockerRunLauncher"
    launcher = config["run_launcher"]["config"]
    assert launcher["container_kwargs"]["auto_remove"] is True
    assert env_name(launcher["network"]) and env_name(launcher["image"])
    assert set(config["storage"]["postgres"]["postgres_db"]) >= {
        "hostname", "port", "username", "password", "db_name"
    }  # fmt: skip
    assert all(env_name(v) for v in config["storage"]["postgres"]["postgres_db"].values())


def test_compose_has_the_full_stack_with_health_checks_and_volumes(compose: dict) -> None:
    """PostgreSQL, MongoDB, user code, webserver and daemon; each health-checked."""
    services = compose["services"]
    assert set(services) == {"postgres", "mongo", "user_code", "webserver", "daemon"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    named = set(compose["volumes"])
    for name in ("postgres", "mongo"):
        mounts = [v.split(":")[0] for v in services[name]["volumes"]]
        assert any(m in named for m in mounts), f"{name} data is not on a named volume"
    # Webserver and daemon wait for a healthy database and code server.
    for name in ("webserver", "daemon"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["user_code"]["condition"] == "service_healthy"
    # The daemon launches run containers, so it needs the Docker socket.
    assert "/var/run/docker.sock:/var/run/docker.sock" in services["daemon"]["volumes"]


def test_compose_provides_every_env_var_the_docker_instance_reads(compose: dict) -> None:
    """Every env var dagster.yaml reads or forwards to run containers is set for the daemon."""
    config = load(DOCKER / "dagster.yaml")
    launcher = config["run_launcher"]["config"]
    needed = {env_name(v) for v in config["storage"]["postgres"]["postgres_db"].values()}
    needed |= {env_name(launcher["image"]), env_name(launcher["network"])}
    needed |= set(launcher["env_vars"])
    for name in ("daemon", "webserver", "user_code"):
        env = compose["services"][name]["environment"]
        missing = needed - set(env)
        assert not missing, f"service {name} lacks {sorted(missing)}"
    env = compose["services"]["daemon"]["environment"]
    # The values line up with the rest of the stack.
    assert env["DAGSTER_POSTGRES_HOST"] == "postgres"
    pg = compose["services"]["postgres"]["environment"]
    assert env["DAGSTER_POSTGRES_USER"] == pg["POSTGRES_USER"]
    assert env["DAGSTER_POSTGRES_DB"] == pg["POSTGRES_DB"]
    assert env["LUME_DOCKER_NETWORK"] == compose["networks"]["lume"]["name"]
    assert env["LUME_USER_CODE_IMAGE"] == compose["services"]["user_code"]["image"]
    user_code = compose["services"]["user_code"]
    assert user_code["environment"]["DAGSTER_CURRENT_IMAGE"] == user_code["image"]
    assert "@mongo:27017" in env["LUME_RESULTS_URL"]
    # Only settings lume_assets knows are passed.
    assert lume_env_names(list(env)) - {"LUME_USER_CODE_IMAGE", "LUME_DOCKER_NETWORK"} <= {
        f"LUME_{f.upper()}" for f in LumeSettings.model_fields
    }


def test_results_mount_is_the_same_in_compose_and_the_run_launcher(compose: dict) -> None:
    """Run containers mount LUME_FILES_ROOT (host) at LUME_MOUNT_ALIAS, as the code server does."""
    env = compose["services"]["daemon"]["environment"]
    mount = f"{env['LUME_FILES_ROOT']}:{env['LUME_MOUNT_ALIAS']}"
    launcher = load(DOCKER / "dagster.yaml")["run_launcher"]["config"]
    assert mount in launcher["container_kwargs"]["volumes"]
    assert mount in compose["services"]["user_code"]["volumes"]
    assert f"mkdir -p {env['LUME_MOUNT_ALIAS']}" in (DOCKER / "Dockerfile").read_text()


def test_workspace_dockerfile_and_code_server_agree(compose: dict) -> None:
    """The webserver/daemon workspace points at the user_code service and its gRPC port."""
    workspace = load(DOCKER / "workspace.yaml")
    (entry,) = workspace["load_from"]
    grpc = entry["grpc_server"]
    assert grpc["host"] == "user_code" and grpc["host"] in compose["services"]
    dockerfile = (DOCKER / "Dockerfile").read_text()
    cmd = re.search(r"CMD \[(.*?)\]", dockerfile, re.S).group(1)
    args = [a.strip().strip('"') for a in cmd.replace("\\\n", " ").split(",")]
    assert args[args.index("-p") + 1] == str(grpc["port"])
    assert args[args.index("-m") + 1] == "lume_assets.demo.definitions"
    assert args[args.index("--location-name") + 1] == grpc["location_name"]
    healthcheck = compose["services"]["user_code"]["healthcheck"]["test"]
    assert healthcheck[healthcheck.index("-p") + 1] == str(grpc["port"])
    home = re.search(r"DAGSTER_HOME=(\S+)", dockerfile).group(1)
    for name in ("webserver", "daemon"):
        entrypoint = compose["services"][name]["entrypoint"]
        assert entrypoint[entrypoint.index("-w") + 1] == f"{home}/workspace.yaml"
    assert "COPY deploy/docker/dagster.yaml deploy/docker/workspace.yaml ${DAGSTER_HOME}/" in (
        dockerfile
    )
    build = compose["services"]["user_code"]["build"]
    assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"


# -- Kubernetes ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def values() -> dict:
    """deploy/k8s/values.yaml (Helm values for the dagster chart)."""
    return load(K8S / "values.yaml")


def test_every_kubernetes_manifest_passes_strict_validation() -> None:
    """Every YAML file in deploy/k8s is a valid manifest, except the two config files."""
    configs = {"dagster.yaml", "values.yaml"}
    manifests = sorted(p for p in K8S.glob("*.yaml") if p.name not in configs)
    assert {p.name for p in manifests} >= {"pvc.yaml", "secrets.example.yaml", "namespace.yaml"}
    for path in manifests:
        assert manifest_documents(path), f"{path.name} holds no Kubernetes object"
    ok, output = validate_files(manifests)
    assert ok, output
    for name in configs:
        assert not manifest_documents(K8S / name)


def test_k8s_instance_config_matches_the_helm_values(
    values: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy/k8s/dagster.yaml is what the chart renders from values.yaml."""
    config = load(K8S / "dagster.yaml")
    assert_valid_instance_config(config, monkeypatch)
    launcher = config["run_launcher"]["config"]
    chart = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert values["runLauncher"]["type"] == config["run_launcher"]["class"] == "K8sRunLauncher"
    assert chart["jobNamespace"] == launcher["job_namespace"]
    assert chart["loadInclusterConfig"] is launcher["load_incluster_config"] is True
    assert chart["imagePullPolicy"] == launcher["image_pull_policy"]
    assert chart["failPodOnRunFailure"] is launcher["fail_pod_on_run_failure"]
    assert [s["name"] for s in chart["envSecrets"]] == launcher["env_secrets"]
    assert chart["envVars"] == launcher["env_vars"]
    assert chart["volumes"] == launcher["volumes"]
    assert chart["volumeMounts"] == launcher["volume_mounts"]
    assert chart["resources"] == launcher["resources"]
    db = config["storage"]["postgres"]["postgres_db"]
    pg = values["postgresql"]
    assert db["hostname"] == pg["postgresqlHost"]
    assert db["username"] == pg["postgresqlUsername"]
    assert db["db_name"] == pg["postgresqlDatabase"]
    assert db["port"] == pg["service"]["port"]
    assert env_name(db["password"]) == "DAGSTER_PG_PASSWORD"
    assert launcher["postgres_password_secret"] == values["global"]["postgresqlSecretName"]
    assert launcher["dagster_home"] == values["global"]["dagsterHome"]
    assert launcher["service_account_name"] == values["global"]["serviceAccountName"]
    queued = values["dagsterDaemon"]["runCoordinator"]
    assert queued["type"] == config["run_coordinator"]["class"]
    assert (
        queued["config"]["queuedRunCoordinator"]["maxConcurrentRuns"]
        == config["run_coordinator"]["config"]["max_concurrent_runs"]
    )


def test_k8s_secrets_and_volumes_referenced_exist(values: dict) -> None:
    """Secrets and the PVC the configs name are the ones shipped, with the keys they need."""
    secrets = {d["metadata"]["name"]: d for d in manifest_documents(K8S / "secrets.example.yaml")}
    launcher = load(K8S / "dagster.yaml")["run_launcher"]["config"]
    for name in launcher["env_secrets"]:
        keys = set(secrets[name]["stringData"])
        assert keys >= {"LUME_RESULTS_URL", "LUME_MONGO_PASSWORD"}
        assert {k.removeprefix("LUME_").lower() for k in keys} <= set(LumeSettings.model_fields)
    pg_secret = secrets[launcher["postgres_password_secret"]]
    assert DAGSTER_PG_PASSWORD_SECRET_KEY in pg_secret["stringData"]
    (pvc,) = manifest_documents(K8S / "pvc.yaml")
    claims = {v["persistentVolumeClaim"]["claimName"] for v in launcher["volumes"]}
    assert claims == {pvc["metadata"]["name"]}
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]  # shared by code server and run pods
    namespaces = {d["metadata"].get("namespace") for p in K8S.glob("*.yaml")
                  for d in manifest_documents(p) if d["kind"] != "Namespace"}  # fmt: skip
    assert namespaces == {launcher["job_namespace"]}


def rendered_user_code_pod(deployment: dict, values: dict) -> dict:
    """Render the chart's user-code pod for `deployment` (the fields our values set)."""
    image = deployment["image"]
    container = {
        "name": deployment["name"],
        "image": f"{image['repository']}:{image['tag']}",
        "imagePullPolicy": image["pullPolicy"],
        "args": ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p",
                 str(deployment["port"]), *deployment["codeServerArgs"]],
        "ports": [{"name": "grpc", "containerPort": deployment["port"]}],
        "env": [{"name": "DAGSTER_CURRENT_IMAGE", "value": f"{image['repository']}:{image['tag']}"},
                *deployment["env"]],
        "envFrom": [{"secretRef": s} for s in deployment["envSecrets"]],
        "volumeMounts": deployment["volumeMounts"],
        "resources": deployment["resources"],
    }  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"dagster-user-deployments-{deployment['name']}", "namespace": "lume"},
        "spec": {
            "serviceAccountName": values["global"]["serviceAccountName"],
            "containers": [container],
            "volumes": deployment["volumes"],
        },
    }


def test_helm_user_code_deployment_renders_to_a_valid_pod(values: dict) -> None:
    """The user-code deployment's k8s fields (env, volumes, resources) form a valid Pod."""
    user = values["dagster-user-deployments"]
    assert user["enabled"] is True
    (deployment,) = user["deployments"]
    args = deployment["codeServerArgs"]
    assert args[args.index("--module-name") + 1] == "lume_assets.demo.definitions"
    location = load(REPO_ROOT / "workspace.yaml")["load_from"][0]["python_module"]
    assert args[args.index("--location-name") + 1] == location["location_name"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    env = {e["name"]: e["value"] for e in deployment["env"]}
    launcher = load(K8S / "dagster.yaml")["run_launcher"]["config"]
    assert {f"{k}={v}" for k, v in env.items()} == set(launcher["env_vars"])
    assert deployment["volumeMounts"] == launcher["volume_mounts"]
    ok, output = validate_strict([rendered_user_code_pod(deployment, values)])
    assert ok, output
