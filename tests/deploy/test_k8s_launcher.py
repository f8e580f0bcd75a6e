"""The real K8sRunLauncher, built from deploy/k8s/dagster.yaml, launches the demo job.

No Kubernetes cluster exists on this machine, so two things are replaced, as dagster-k8s's own
tests do: the in-cluster config loader (no service-account token here) and the batch API client,
by a recorder that keeps the Job body the launcher sends. Everything else — the instance on a real
PostgreSQL, the code location, the run, the launcher's Job construction and config merging — is
the real code. The recorded Job must pass `kubernetes-validate --strict`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import kubernetes
import pytest
import yaml

from lume_assets.demo.definitions import build_definitions
from lume_assets.deploy.launch import DEMO_JOB, launch_job
from lume_assets.deploy.placement import (
    K8S_CONFIG_TAG,
    ModelResources,
    placement_tags,
    resources_from_tags,
)
from lume_assets.errors import DeploymentError
from tests.deploy.conftest import DEPLOY, REPO_ROOT
from tests.deploy.k8s_manifests import to_manifest, validate_strict
from tests.servers import PostgresServer

MODEL = ModelResources(
    cpu="1500m",
    memory="3Gi",
    image="registry.example.org/lume/beam-envelope:2.1",
    node_selector={"lume.example.org/pool": "cpu-large"},
)


def user_code_image() -> str:
    """Return the user-code image of the lume_assets deployment in deploy/k8s/values.yaml."""
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return f"{deployment['image']['repository']}:{deployment['image']['tag']}"


class RecordingBatchApi:
    """Stands in for kubernetes.client.BatchV1Api (no cluster here): records created Jobs."""

    def __init__(self) -> None:
        """Start with no recorded Jobs."""
        self.jobs: list[tuple[str, Any]] = []

    def create_namespaced_job(self, body: Any, namespace: str, **_: Any) -> Any:
        """Record the Job body and namespace the launcher submits."""
        self.jobs.append((namespace, body))
        return body


@pytest.fixture
def k8s_instance(
    lume_home: Path, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dg.DagsterInstance, RecordingBatchApi]]:
    """An instance from deploy/k8s/dagster.yaml on a real PostgreSQL, Job creation recorded."""
    config = yaml.safe_load((DEPLOY / "k8s" / "dagster.yaml").read_text())
    # The cluster's PostgreSQL service does not exist here: use the test server instead.
    config["storage"] = {
        "postgres": {"postgres_url": postgres_server.database_url("dagster_k8s_test")}
    }
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    # No service-account token outside a cluster: the launcher's config loading is a no-op.
    monkeypatch.setattr(kubernetes.config, "load_incluster_config", lambda *a, **k: None)
    # The chart sets this on the user-code deployment; the code location records it as the
    # image of its runs.
    monkeypatch.setenv("DAGSTER_CURRENT_IMAGE", user_code_image())
    instance = dg.DagsterInstance.get()
    recorder = RecordingBatchApi()
    instance.run_launcher._api_client.batch_api = recorder
    yield instance, recorder
    instance.dispose()


def launched_job(instance: dg.DagsterInstance, recorder: RecordingBatchApi, **tags: str) -> dict:
    """Launch the demo job with `tags` and return the recorded Job as a manifest dict."""
    launch_job(instance, REPO_ROOT / "workspace.yaml", DEMO_JOB, tags=tags, bypass_queue=True)
    assert len(recorder.jobs) == 1, recorder.jobs
    namespace, body = recorder.jobs[0]
    assert namespace == "lume"
    return to_manifest(body)


def test_k8s_job_carries_the_model_resources_and_keeps_the_launcher_limits(
    k8s_instance: tuple[dg.DagsterInstance, RecordingBatchApi],
) -> None:
    """CPU/memory requests, image and node selector of the model reach the Job; limits stay."""
    instance, recorder = k8s_instance
    assert type(instance.run_launcher).__name__ == "K8sRunLauncher"
    job = launched_job(instance, recorder, **placement_tags(MODEL))

    ok, output = validate_strict([job])
    assert ok, f"the launcher's Job is not a valid Kubernetes {job['kind']}:\n{output}"

    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == MODEL.image
    assert container["resources"] == {
        "requests": {"cpu": "1500m", "memory": "3Gi"},
        "limits": {"cpu": "4", "memory": "8Gi"},  # deploy/k8s/dagster.yaml, kept
    }
    assert pod["nodeSelector"] == MODEL.node_selector
    # The rest of the launcher's config is in the Job too: secrets, results volume, account.
    assert {"secretRef": {"name": "lume-secrets"}} in container["envFrom"]
    env = {e["name"]: e for e in container["env"]}
    assert env["LUME_FILES_ROOT"]["value"] == "/lume/files"
    assert env["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "dagster-postgresql-secret",
        "key": "postgresql-password",
    }
    assert {"name": "lume-files", "mountPath": "/lume/files"} in container["volumeMounts"]
    assert {"name": "lume-files", "persistentVolumeClaim": {"claimName": "lume-files"}} in pod[
        "volumes"
    ]
    assert pod["serviceAccountName"] == "dagster"
    assert container["args"][:3] == ["dagster", "api", "execute_run"]
    run_id = job["metadata"]["labels"]["dagster/run-id"]
    assert instance.get_run_by_id(run_id).tags["dagster/image"] == MODEL.image


def test_the_demo_job_as_declared_gets_its_models_resources_over_the_launcher_defaults(
    k8s_instance: tuple[dg.DagsterInstance, RecordingBatchApi],
) -> None:
    """No tags at launch: the requests the demo's models declare (combined into the job's tags
    from their `lume/resources` op tags) are merged over the launcher's; its limits are kept."""
    instance, recorder = k8s_instance
    job = launched_job(instance, recorder)
    ok, output = validate_strict([job])
    assert ok, output
    (container,) = job["spec"]["template"]["spec"]["containers"]
    launcher_resources = yaml.safe_load((DEPLOY / "k8s" / "dagster.yaml").read_text())[
        "run_launcher"
    ]["config"]["resources"]
    declared = resources_from_tags(build_definitions().resolve_job_def(DEMO_JOB).tags)
    assert declared is not None  # the demo's model (beam_envelope) declares CPU and memory
    requests = dict(launcher_resources["requests"])
    requests.update({k: v for k, v in (("cpu", declared.cpu), ("memory", declared.memory)) if v})
    assert container["resources"] == {"requests": requests, "limits": launcher_resources["limits"]}
    assert container["image"] == (declared.image or user_code_image())
    pod = job["spec"]["template"]["spec"]
    assert pod.get("nodeSelector", {}) == declared.node_selector


def test_a_shallow_merge_would_drop_the_launcher_limits(
    k8s_instance: tuple[dg.DagsterInstance, RecordingBatchApi],
) -> None:
    """Why placement asks for a DEEP merge: SHALLOW replaces the launcher's resources whole."""
    instance, recorder = k8s_instance
    job = launched_job(instance, recorder, **placement_tags(MODEL))
    run = instance.get_run_by_id(job["metadata"]["labels"]["dagster/run-id"])
    shallow = json.loads(run.tags[K8S_CONFIG_TAG]) | {"merge_behavior": "SHALLOW"}
    shallow_run = run._replace(tags={**run.tags, K8S_CONFIG_TAG: json.dumps(shallow)})
    context = instance.run_launcher.get_container_context_for_run(shallow_run)
    assert context.run_k8s_config.container_config["resources"] == {
        "requests": {"cpu": "1500m", "memory": "3Gi"}
    }  # no limits: the pitfall placement_tags avoids
    deep = instance.run_launcher.get_container_context_for_run(run)
    assert deep.run_k8s_config.container_config["resources"]["limits"] == {
        "cpu": "4",
        "memory": "8Gi",
    }


def test_a_model_asking_more_than_the_launcher_limit_is_refused_before_launch(
    k8s_instance: tuple[dg.DagsterInstance, RecordingBatchApi],
) -> None:
    """A request above the limit would be an invalid pod: refused, nothing is submitted."""
    instance, recorder = k8s_instance
    greedy = ModelResources(cpu="16", memory="1Gi")
    with pytest.raises(DeploymentError, match=r"cpu=16.*limit is cpu=4"):
        launch_job(
            instance,
            REPO_ROOT / "workspace.yaml",
            DEMO_JOB,
            tags=placement_tags(greedy),
            bypass_queue=True,
        )
    assert recorder.jobs == []
