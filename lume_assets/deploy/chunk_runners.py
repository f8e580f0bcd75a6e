"""Where a scan's chunks are evaluated: the `chunk_runner` resource, chosen in config, not code.

A scan is one Dagster step (a single-run backfill), so Dagster's executors cannot spread its
chunks; the scan asset hands each chunk's uncached points to this resource instead and writes
the results back in chunk order as they come (files, result rows), in the Dagster process.

- ``kind: in_process`` (default): evaluated in the step's own process, one chunk at a time.
- ``kind: processes``: a local pool of ``workers`` processes (default: every core), started
  once per run (``forkserver``: a clean, pre-imported process forks the workers; the model is
  sent once per worker). ``in_flight`` chunks (default 2 × workers) are submitted ahead, so
  memory stays bounded whatever the scan's size.
- ``kind: slurm``: each chunk is one Slurm job through the ``slurm`` `SlurmPipesClient`
  (sbatch + Dagster Pipes on a shared folder; ``workers`` jobs at once, default 4; the model's
  CPU/memory as ``--cpus-per-task``/``--mem``).
- ``kind: docker``: each chunk is one container through the ``docker`` `DockerChunkClient`
  (dagster-docker's `PipesDockerClient`; the model's CPU/memory as the container's limits).
- ``kind: k8s``: each chunk is one Kubernetes Job through the ``k8s`` `K8sChunkClient` (the
  model's `ModelResources` as the pod's requests, image and node selector).

A job (Slurm, Docker, Kubernetes) imports the model by reference: the `ModelSpec` object found
at module level in its function's module, or ``model_refs[name]`` ('package.module:ATTR').

``writer`` (every kind): who writes a scan's new scalar records — ``step`` (the scan's process),
``process`` (one writer process overlapping the writes with the next chunks, see
`lume_assets.assets.scan_asset`) or ``auto`` (default: a writer process from 50,000 points).

Every runner evaluates a chunk through `evaluation.run_points`, so the stored outputs, hashes
and file checksums are the same, bit for bit, whichever ran them. (A chunk's cache lookup sees
the chunks already written, so with several chunks in flight a point repeated in two of them is
evaluated twice, to the same outputs.) Worker processes import the model's module — and, as
multiprocessing does, the main script — so keep model modules light. Pick one per deployment, e.g.
in run config: ``resources: {chunk_runner: {config: {kind: processes, workers: 2}}}``, or with
``LUME_CHUNK_RUNNER`` / ``LUME_CHUNK_WORKERS`` for `lume_assets.serving.resources()`.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from lume_assets.assets.evaluation import run_points
from lume_assets.deploy.chunk_jobs import DockerChunkClient, K8sChunkClient
from lume_assets.deploy.chunk_worker import evaluate_points, init_worker
from lume_assets.deploy.slurm import SlurmPipesClient
from lume_assets.errors import DeploymentError
from lume_assets.models.catalogue import import_model
from lume_assets.models.model import ModelSpec

__all__ = ["RUNNER_KEY", "ChunkRunner", "Submit"]

RUNNER_KEY = "chunk_runner"
#: points from which `writer: auto` starts a writer process (it costs ~1 s to start)
WRITER_PROCESS_POINTS = 50_000
Points = list[dict[str, Any]]
#: submit one chunk's points; the future gives their outputs in order
Submit = Callable[[Points], "Future[Points]"]


def _done(value: Points) -> Future[Points]:
    """A future already holding `value`."""
    fut: Future[Points] = Future()
    fut.set_result(value)
    return fut


class _Lazy(Future):
    """A future evaluated in this process when its result is first asked for."""

    def __init__(self, spec: ModelSpec, points: Points) -> None:
        super().__init__()
        self._spec, self._points = spec, points

    def result(self, timeout: float | None = None) -> Points:
        """Evaluate now (once) and return the outputs."""
        if not self.done():
            try:
                self.set_result(run_points(self._spec, self._points))
            except BaseException as exc:  # raised to the caller below, like a pool's future
                self.set_exception(exc)
        return super().result(timeout)


class ChunkRunner(dg.ConfigurableResource):
    """Evaluates scan chunks in this process, a local pool, or as Slurm/Docker/Kubernetes jobs."""

    kind: Literal["in_process", "processes", "slurm", "docker", "k8s"] = Field(
        default="in_process",
        description="Where chunks run: in_process, processes, slurm, docker or k8s.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description="processes: pool size (default: CPU count); jobs: at once (default 4).",
    )
    in_flight: int | None = Field(
        default=None,
        ge=1,
        description="Chunks submitted ahead of the writer (default 2 × workers).",
    )
    start_method: Literal["forkserver", "spawn", "fork"] = Field(
        default="forkserver", description="processes: how worker processes start."
    )
    slurm: SlurmPipesClient | None = Field(
        default=None, description="slurm: the Slurm client (work_dir, partition, cpus, ...)."
    )
    docker: DockerChunkClient | None = Field(
        default=None, description="docker: the Docker client (image, work_dir, volumes, ...)."
    )
    k8s: K8sChunkClient | None = Field(
        default=None, description="k8s: the Kubernetes client (image, work_dir_claim, ...)."
    )
    writer: Literal["auto", "step", "process"] = Field(
        default="auto",
        description="Who writes a scan's new scalar records: the step's process, a writer "
        "process (overlapping the writes with the next chunks), or auto: a writer process "
        f"when the run covers at least {WRITER_PROCESS_POINTS:,} points.",
    )
    model_refs: dict[str, str] = Field(
        default_factory=dict,
        description="jobs: model name -> 'package.module:ATTR' the job imports it from.",
    )
    job_env: dict[str, str] = Field(
        default_factory=dict, description="jobs: extra environment for the jobs."
    )

    def pool_size(self) -> int:
        """Chunks evaluated at once."""
        if self.kind == "in_process":
            return 1
        default = (os.cpu_count() or 1) if self.kind == "processes" else 4
        return self.workers or default

    def writer_process(self, points: int) -> bool:
        """Whether a scan step covering `points` points writes through a writer process."""
        return self.writer == "process" or (
            self.writer == "auto" and points >= WRITER_PROCESS_POINTS
        )

    def depth(self) -> int:
        """Chunks submitted before the oldest one's results are written."""
        return self.in_flight or (1 if self.kind == "in_process" else 2 * self.pool_size())

    def model_ref(self, spec: ModelSpec) -> str:
        """'module:ATTR' a Slurm job imports `spec` from (checked to name the same model)."""
        ref = self.model_refs.get(spec.name)
        if ref is None:
            module_name = getattr(spec.function, "__module__", "")
            module = sys.modules.get(module_name)
            attrs = [a for a, v in vars(module).items() if v is spec] if module else []
            if not attrs:
                raise DeploymentError(
                    f"chunk_runner.model_refs has no entry for model {spec.name!r} and its "
                    f"ModelSpec is not a module-level name of {module_name or '?'}; add "
                    f"model_refs: {{{spec.name}: 'package.module:ATTR'}} to the chunk_runner."
                )
            ref = f"{module_name}:{attrs[0]}"
        found = import_model(ref)
        if (found.name, found.version) != (spec.name, spec.version):
            raise DeploymentError(
                f"chunk_runner.model_refs[{spec.name!r}] = {ref!r} is model {found.name!r} "
                f"v{found.version}, not v{spec.version}; point it at the scanned ModelSpec."
            )
        return ref

    @contextmanager
    def session(self, context: dg.AssetExecutionContext, spec: ModelSpec) -> Iterator[Submit]:
        """Open the runner for one scan step; yield `submit(points) -> Future[outputs]`."""
        if self.kind == "in_process":
            yield lambda points: _Lazy(spec, points) if points else _done([])
        elif self.kind == "processes":
            try:
                pickle.dumps(spec)
            except Exception as exc:  # noqa: BLE001 - any pickling failure means the same fix
                raise DeploymentError(
                    f"model {spec.name!r} cannot be sent to worker processes ({exc}); define its "
                    "functions at module level of an importable module, or use "
                    "chunk_runner kind in_process."
                ) from None
            ctx = multiprocessing.get_context(self.start_method)
            if self.start_method == "forkserver":
                ctx.set_forkserver_preload(["lume_assets.deploy.chunk_worker"])
            pool = ProcessPoolExecutor(
                self.pool_size(), mp_context=ctx, initializer=init_worker, initargs=(spec,)
            )
            try:
                yield lambda points: pool.submit(evaluate_points, points) if points else _done([])
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        else:
            client = getattr(self, self.kind)
            if client is None:
                raise DeploymentError(
                    f"chunk_runner kind is {self.kind} but its `{self.kind}` client is not set; "
                    f"configure chunk_runner.{self.kind} (image or partition, work_dir, ...)."
                )
            ref = self.model_ref(spec)
            env = dict(self.job_env)

            def one(points: Points) -> Points:
                outputs, _ = client.evaluate_chunk(
                    context, ref, points, env=env, batch=len(points) > 1, resources=spec.resources
                )
                return outputs

            threads = ThreadPoolExecutor(self.pool_size(), thread_name_prefix=f"lume-{self.kind}")
            try:
                yield lambda points: threads.submit(one, points) if points else _done([])
            finally:
                threads.shutdown(wait=True, cancel_futures=True)
