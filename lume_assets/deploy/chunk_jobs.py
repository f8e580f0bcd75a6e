"""A scan chunk as one job elsewhere: Docker containers and Kubernetes Jobs, through Dagster Pipes.

Every job runner (Slurm in `lume_assets.deploy.slurm`, Docker and Kubernetes here) runs the same
program, ``python -m lume_assets.deploy.job_worker``, and exchanges a chunk the same way: the
points go in and the outputs come back as codec-encoded JSON files (arrays as typed base64, never
pickle) in ``work_dir``, a folder the Dagster process and the job share (a bind mount for Docker,
a shared volume for Kubernetes, the cluster filesystem for Slurm); the Pipes context (model
reference, file names) and the job's log and summary travel through Dagster Pipes. The Pipes
context is small whatever the chunk's size, so it fits in an environment variable.

- `DockerChunkClient`: one container per chunk with dagster-docker's `PipesDockerClient`
  (context in the environment, messages from the container log), ``work_dir`` bind-mounted at
  the same path, the model's CPU/memory (`ModelResources`) as the container's limits, named
  ``lume-<model>-<key>`` and labelled ``lume.run_id``/``lume.chunk``; removed when done.
- `K8sChunkClient`: one ``batch/v1`` Job per chunk, its manifest built by `job_manifest` from
  this resource's config and the model's `ModelResources` (requests, memory limit, image, node
  selector), ``work_dir`` on a mounted PersistentVolumeClaim; messages read from the pod's log
  with dagster-k8s's `PipesK8sPodLogsMessageReader`. dagster-k8s's `PipesK8sClient` is not used
  for the launch itself: it starts a bare Pod whose name is made from the run and op only, so
  two chunks of one step would collide, and a Pod is not retried or garbage-collected like a
  Job (``backoffLimit``, ``ttlSecondsAfterFinished``).

Each client's ``evaluate_chunk(context, model, points, env=, batch=, resources=)`` has the
signature of `SlurmPipesClient.evaluate_chunk`, so `ChunkRunner` drives them alike.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.pipes.client import PipesClientCompletedInvocation
from pydantic import Field

from lume_assets.deploy.placement import docker_container_kwargs
from lume_assets.errors import ChunkJobError
from lume_assets.models.model import ModelResources
from lume_assets.storage.encoding import Codec

CODEC = Codec(binary="base64", array_threshold=1 << 62, inline_budget=1 << 62)
WORKER = "lume_assets.deploy.job_worker"
Context = dg.OpExecutionContext | dg.AssetExecutionContext
Outputs = tuple[list[dict[str, Any]], dict[str, Any]]


def job_name(prefix: str, model: str, key: str) -> str:
    """A DNS-1123 name for a chunk's job/container: prefix, model attribute, key (<= 63 chars)."""
    attr = re.sub(r"[^a-z0-9-]+", "-", model.rsplit(":", 1)[-1].lower()).strip("-") or "model"
    return f"{prefix}-{attr[:30]}-{key}"[:63].strip("-")


def evaluate_in_job(
    work_dir: str,
    model: str,
    points: Sequence[Mapping[str, Any]],
    batch: bool,
    launch: Callable[[str, dict[str, Any]], PipesClientCompletedInvocation],
) -> Outputs:
    """Write `points` to `work_dir`, `launch(key, extras)` the job worker, read its outputs.

    Returns (outputs, one per point in order; the worker's summary message). Raises
    `ChunkJobError` if the job returned no or too few outputs.
    """
    chunk_dir = Path(work_dir) / "chunks"
    chunk_dir.mkdir(parents=True, exist_ok=True)
    key = uuid.uuid4().hex[:12]
    points_file = chunk_dir / f"{key}.points.json"
    outputs_file = chunk_dir / f"{key}.outputs.json"
    points_file.write_text(json.dumps(CODEC.encode(list(points), "points"), allow_nan=True))
    extras = {
        "model": model,
        "points_file": str(points_file),
        "outputs_file": str(outputs_file),
        "batch": batch,
    }
    try:
        invocation = launch(key, extras)
        if not outputs_file.exists():
            raise ChunkJobError(
                f"the chunk job for {model} ({key}) ended without writing {outputs_file}; is "
                f"work_dir {work_dir} shared with the job at the same path?"
            )
        outputs = CODEC.decode(json.loads(outputs_file.read_text()), "outputs")
    finally:
        points_file.unlink(missing_ok=True)
        outputs_file.unlink(missing_ok=True)
    messages = invocation.get_custom_messages()
    summary = dict(messages[-1]) if messages else {}
    if len(outputs) != len(points):
        raise ChunkJobError(
            f"the chunk job {summary.get('job') or key} returned {len(outputs)} outputs for "
            f"{len(points)} points; see its log in the run."
        )
    return outputs, summary


class DockerChunkClient(dg.ConfigurableResource):
    """Evaluate scan chunks in Docker containers via `PipesDockerClient` (see module docstring)."""

    image: str = Field(description="Image with lume_assets and the model's package installed.")
    work_dir: str = Field(
        description="Folder for chunk files, bind-mounted into each container at the same path."
    )
    python: str = Field(default="python", description="Python inside the image.")
    volumes: list[str] = Field(
        default_factory=list, description="Extra binds, 'host:container[:ro|rw]'."
    )
    network: str | None = Field(default=None, description="Docker network for the containers.")
    working_dir: str | None = Field(default=None, description="Working directory in containers.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment of the containers.")
    name_prefix: str = "lume"

    def evaluate_chunk(
        self,
        context: Context,
        model: str,
        points: Sequence[Mapping[str, Any]],
        env: Mapping[str, str] | None = None,
        batch: bool = True,
        resources: ModelResources | None = None,
    ) -> Outputs:
        """Evaluate `points` of `model` ('package.module:ATTR') in one container."""
        import docker
        import docker.errors
        from dagster_docker import PipesDockerClient
        from dagster_pipes import DagsterPipesError

        image = (resources.image if resources else None) or self.image

        def launch(key: str, extras: dict[str, Any]) -> PipesClientCompletedInvocation:
            name = job_name(self.name_prefix, model, key)
            kwargs: dict[str, Any] = {
                "name": name,
                "labels": {
                    "lume.run_id": context.run.run_id,
                    "lume.chunk": key,
                    "lume.model": model,
                },
                "volumes": [f"{self.work_dir}:{self.work_dir}:rw", *self.volumes],
                **docker_container_kwargs(resources or ModelResources()),
            }
            if self.network:
                kwargs["network"] = self.network
            if self.working_dir:
                kwargs["working_dir"] = self.working_dir
            context.log.info(f"Starting chunk container {name} ({image})")
            try:
                return PipesDockerClient(env=self.env).run(
                    context=context,
                    image=image,
                    command=[self.python, "-m", WORKER],
                    extras={**extras, "job": f"container {name}"},
                    env=dict(env or {}),
                    container_kwargs=kwargs,
                )
            except (DagsterPipesError, docker.errors.DockerException) as exc:
                raise ChunkJobError(
                    f"chunk container {name} ({image}) failed: {exc}. Retry the step to run it "
                    "again."
                ) from None
            finally:
                try:
                    docker.from_env().containers.get(name).remove(force=True)
                except docker.errors.DockerException:
                    pass  # never created, or already gone

        return evaluate_in_job(self.work_dir, model, points, batch, launch)


class K8sChunkClient(dg.ConfigurableResource):
    """Evaluate scan chunks as Kubernetes Jobs, one per chunk (see module docstring)."""

    image: str = Field(description="Image with lume_assets and the model's package installed.")
    work_dir: str = Field(description="Folder for chunk files, on `work_dir_claim` in the pods.")
    work_dir_claim: str = Field(
        description="PersistentVolumeClaim (ReadWriteMany) shared with Dagster, at `work_dir`."
    )
    namespace: str = "default"
    python: str = Field(default="python", description="Python inside the image.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment of the pods.")
    service_account_name: str | None = None
    image_pull_secrets: list[str] = Field(default_factory=list)
    image_pull_policy: str = "IfNotPresent"
    backoff_limit: int = Field(default=0, ge=0, description="Pod retries inside one Job.")
    ttl_seconds_after_finished: int = Field(default=3600, ge=0)
    active_deadline_seconds: int | None = Field(default=None, ge=1)
    load_incluster_config: bool | None = Field(
        default=None, description="In-cluster credentials (default: if KUBERNETES_SERVICE_HOST)."
    )
    kubeconfig_file: str | None = None
    poll_interval_s: float = Field(default=2.0, gt=0)
    start_timeout_s: float = Field(
        default=900.0, gt=0, description="Seconds a chunk's pod may stay Pending (image pull...)."
    )
    name_prefix: str = "lume"

    def job_manifest(
        self,
        name: str,
        labels: Mapping[str, str],
        env: Mapping[str, str],
        resources: ModelResources | None = None,
    ) -> dict[str, Any]:
        """The ``batch/v1`` Job for one chunk: its pod runs the job worker with `env`."""
        res = resources or ModelResources()
        requests = {k: v for k, v in (("cpu", res.cpu), ("memory", res.memory)) if v}
        container: dict[str, Any] = {
            "name": "chunk",
            "image": res.image or self.image,
            "imagePullPolicy": self.image_pull_policy,
            "command": [self.python, "-m", WORKER],
            "env": [{"name": k, "value": v} for k, v in {**self.env, **env}.items()],
            "volumeMounts": [{"name": "lume-work", "mountPath": self.work_dir}],
        }
        if requests:
            container["resources"] = {"requests": requests}
            if res.memory:  # the memory asked for is also the most it may use
                container["resources"]["limits"] = {"memory": res.memory}
        pod: dict[str, Any] = {
            "restartPolicy": "Never",
            "containers": [container],
            "volumes": [
                {
                    "name": "lume-work",
                    "persistentVolumeClaim": {"claimName": self.work_dir_claim},
                }
            ],
        }
        if res.node_selector:
            pod["nodeSelector"] = dict(res.node_selector)
        if self.service_account_name:
            pod["serviceAccountName"] = self.service_account_name
        if self.image_pull_secrets:
            pod["imagePullSecrets"] = [{"name": s} for s in self.image_pull_secrets]
        spec: dict[str, Any] = {
            "backoffLimit": self.backoff_limit,
            "ttlSecondsAfterFinished": self.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        }
        if self.active_deadline_seconds:
            spec["activeDeadlineSeconds"] = self.active_deadline_seconds
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": self.namespace, "labels": dict(labels)},
            "spec": spec,
        }

    def _apis(self) -> tuple[Any, Any]:
        """The (BatchV1Api, CoreV1Api) clients, after loading the cluster credentials."""
        import kubernetes

        if self.load_incluster_config:
            kubernetes.config.load_incluster_config()
        elif self.load_incluster_config is None and not self.kubeconfig_file:
            try:
                kubernetes.config.load_incluster_config()
            except kubernetes.config.ConfigException:
                kubernetes.config.load_kube_config()
        else:
            kubernetes.config.load_kube_config(config_file=self.kubeconfig_file)
        return kubernetes.client.BatchV1Api(), kubernetes.client.CoreV1Api()

    def _pod_started(self, core: Any, name: str) -> str:
        """Wait until the Job's pod has left Pending; return the pod's name."""
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            pods = core.list_namespaced_pod(self.namespace, label_selector=f"job-name={name}")
            started = [p for p in pods.items if p.status and p.status.phase != "Pending"]
            if started:
                return started[0].metadata.name
            time.sleep(self.poll_interval_s)
        raise ChunkJobError(
            f"the pod of Kubernetes Job {self.namespace}/{name} did not start within "
            f"{self.start_timeout_s:.0f} s; see `kubectl describe job -n {self.namespace} {name}` "
            "(image pull, quota, node selector)."
        )

    def _job_finished(self, batch: Any, name: str) -> bool:
        """Wait until the Job has succeeded (True) or failed (False)."""
        while True:
            status = batch.read_namespaced_job_status(name, self.namespace).status
            if status.succeeded:
                return True
            if status.failed:
                return False
            time.sleep(self.poll_interval_s)

    def evaluate_chunk(
        self,
        context: Context,
        model: str,
        points: Sequence[Mapping[str, Any]],
        env: Mapping[str, str] | None = None,
        batch: bool = True,
        resources: ModelResources | None = None,
    ) -> Outputs:
        """Evaluate `points` of `model` ('package.module:ATTR') in one Kubernetes Job."""
        from dagster_k8s.pipes import PipesK8sPodLogsMessageReader

        batch_api, core_api = self._apis()

        def launch(key: str, extras: dict[str, Any]) -> PipesClientCompletedInvocation:
            name = job_name(self.name_prefix, model, key)
            labels = {
                "app.kubernetes.io/name": "lume-assets",
                "app.kubernetes.io/component": "scan-chunk",
                "lume/run-id": context.run.run_id,
                "lume/chunk": key,
            }
            reader = PipesK8sPodLogsMessageReader()
            with dg.open_pipes_session(
                context=context,
                context_injector=dg.PipesEnvContextInjector(),
                message_reader=reader,
                extras={**extras, "job": f"Kubernetes Job {name}"},
            ) as session:
                job_env = {**(env or {}), **session.get_bootstrap_env_vars()}
                body = self.job_manifest(name, labels, job_env, resources)
                batch_api.create_namespaced_job(self.namespace, body)
                context.log.info(f"Created Kubernetes Job {self.namespace}/{name}")
                try:
                    pod = self._pod_started(core_api, name)
                    reader.consume_pod_logs(context, core_api, pod, self.namespace)
                    succeeded = self._job_finished(batch_api, name)
                finally:
                    batch_api.delete_namespaced_job(
                        name, self.namespace, propagation_policy="Background"
                    )
                if not succeeded:
                    raise ChunkJobError(
                        f"Kubernetes Job {self.namespace}/{name} failed (pod {pod}); see its log "
                        "in the run. Retry the step to run it again."
                    )
            return PipesClientCompletedInvocation(session, metadata={"k8s_job": name})

        return evaluate_in_job(self.work_dir, model, points, batch, launch)
