"""Run work as Slurm jobs from Dagster: `SlurmPipesClient`, Dagster Pipes over `sbatch`.

The scheduler is Slurm itself. The client writes a job script into a folder on a filesystem the
Dagster process and the compute nodes share (``work_dir``), submits it with ``sbatch``
(partition, CPUs, memory, time limit from the resource's config), and polls ``squeue`` /
``scontrol show job`` until the job ends. Dagster Pipes carries the context to the job and its
logs and messages back while it runs (a context file and a message file in the job's folder);
the job's stdout/stderr files are forwarded to the Dagster log when it ends. A job that does
not complete (``scancel``, node failure, time limit, a non-zero exit) raises `SlurmJobError`
naming the job id, its final state and its log files, so a Dagster retry submits it again; an
interrupted Dagster step cancels its job.

`evaluate_chunk` runs a chunk of model points in one job (`lume_assets.deploy.job_worker`, as
the Docker and Kubernetes chunk clients of `lume_assets.deploy.chunk_jobs` do) and returns their
outputs; points and outputs travel as codec-encoded JSON files, never pickle. The job's CPUs and
memory are the model's `ModelResources` where it declares them (``--cpus-per-task`` rounded up
to whole CPUs, ``--mem`` in MiB), else this resource's ``cpus``/``mem``.

Why not `dagster-slurm` (PyPI, evaluated at 1.22.0): it reaches the cluster only through SSH to
a login node and ships the Python environment with ``pixi pack`` (conda packages fetched from
the network), so it cannot drive a local cluster offline without an SSH server and a conda
channel; its local mode runs without Slurm. Pipes over ``sbatch`` needs only the Slurm client
commands and a shared folder, which is how sites run Dagster next to a cluster.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.pipes.client import PipesClientCompletedInvocation
from pydantic import Field

from lume_assets.deploy.chunk_jobs import WORKER, evaluate_in_job
from lume_assets.deploy.placement import cpu_cores, memory_bytes
from lume_assets.errors import SlurmJobError
from lume_assets.models.model import ModelResources

ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}
LOG_TAIL = 4000  # characters of a job's stdout/stderr forwarded to the Dagster log


def _tail(path: Path) -> str:
    """Return the last LOG_TAIL characters of a file ('' if absent)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-LOG_TAIL:]


class SlurmPipesClient(dg.ConfigurableResource):
    """Submit Dagster Pipes processes as Slurm jobs (see module docstring)."""

    work_dir: str = Field(
        description="Folder on a filesystem shared with the compute nodes; one subfolder per job."
    )
    partition: str | None = Field(
        default=None, description="sbatch --partition (default: the cluster's)."
    )
    cpus: int = Field(default=1, ge=1, description="sbatch --cpus-per-task.")
    mem: str | None = Field(
        default=None, description="sbatch --mem, e.g. '2G' (default: the cluster's)."
    )
    time_limit: str = Field(default="01:00:00", description="sbatch --time, e.g. '00:30:00'.")
    python: str = Field(
        default=sys.executable,
        description="Python on the compute nodes with lume_assets installed (default: this one).",
    )
    slurm_conf: str | None = Field(
        default=None, description="SLURM_CONF for the Slurm commands (default: the environment's)."
    )
    sbatch_args: list[str] = Field(
        default_factory=list, description="Extra sbatch options, e.g. ['--account=beam']."
    )
    poll_interval_s: float = Field(default=0.5, gt=0, description="Seconds between state polls.")
    job_name_prefix: str = "lume"

    # -- Slurm commands --------------------------------------------------------------------------
    def _env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Return the environment for Slurm commands (and, through sbatch, for the job)."""
        env = {**os.environ, **(extra or {})}
        if self.slurm_conf:
            env["SLURM_CONF"] = self.slurm_conf
        return env

    def _slurm(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run a Slurm client command; return stdout or raise SlurmJobError with its stderr."""
        try:
            done = subprocess.run(
                list(args),
                env=dict(env) if env is not None else self._env(),
                capture_output=True,
                text=True,
                timeout=60,
            )
        except FileNotFoundError:
            raise SlurmJobError(
                f"`{args[0]}` is not installed here; install the Slurm client commands "
                "(Debian: slurm-client) on the machine running Dagster."
            ) from None
        except subprocess.TimeoutExpired:
            raise SlurmJobError(
                f"`{' '.join(args[:2])}` did not answer in 60 s; is slurmctld reachable?"
            ) from None
        if done.returncode != 0:
            err = (done.stderr or done.stdout).strip().splitlines()
            raise SlurmJobError(
                f"`{' '.join(args[:2])}` failed ({err[-1] if err else f'exit {done.returncode}'}); "
                "check the partition/cpus/mem/time_limit settings and SLURM_CONF."
            )
        return done.stdout

    def job_state(self, job_id: str) -> tuple[str, str]:
        """Return (state, exit code) of a job from ``scontrol show job`` (UNKNOWN if gone)."""
        try:
            out = self._slurm("scontrol", "show", "job", "-o", job_id)
        except SlurmJobError:
            return "UNKNOWN", ""
        state = re.search(r"\bJobState=(\S+)", out)
        code = re.search(r"\bExitCode=(\S+)", out)
        return (state.group(1) if state else "UNKNOWN"), (code.group(1) if code else "")

    def _queued(self, job_id: str) -> bool:
        """Whether ``squeue`` still lists the job (pending, running or completing)."""
        try:
            out = self._slurm("squeue", "-h", "-j", job_id, "-o", "%T")
        except SlurmJobError:
            return False  # squeue refuses ids it no longer knows
        return out.strip() in ACTIVE

    def cancel(self, job_id: str) -> None:
        """Cancel a job (``scancel``)."""
        self._slurm("scancel", job_id)

    # -- Pipes -----------------------------------------------------------------------------------
    def run(
        self,
        *,
        context: dg.OpExecutionContext | dg.AssetExecutionContext,
        command: Sequence[str],
        extras: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        job_name: str | None = None,
        resources: ModelResources | None = None,
    ) -> PipesClientCompletedInvocation:
        """Run `command` as one Slurm job inside a Pipes session; return its invocation.

        Like `dagster.PipesSubprocessClient.run`, but the process is a Slurm job (`resources`:
        the CPU/memory a model declares, over this resource's ``cpus``/``mem``). Raises
        `SlurmJobError` if the job does not complete with exit code 0.
        """
        job_dir = Path(self.work_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        job_dir.mkdir(parents=True, exist_ok=False)
        name = job_name or f"{self.job_name_prefix}-{context.run.run_id[:8]}"
        with dg.open_pipes_session(
            context=context,
            context_injector=dg.PipesFileContextInjector(str(job_dir / "pipes_context.json")),
            message_reader=dg.PipesFileMessageReader(str(job_dir / "pipes_messages.jsonl")),
            extras=dict(extras or {}),
        ) as session:
            script = job_dir / "job.sh"
            script.write_text(
                "#!/bin/bash\n"
                f"cd {_quote(str(job_dir))}\n"
                f"exec {' '.join(_quote(c) for c in command)}\n"
            )
            script.chmod(0o755)
            job_env = self._env({**(env or {}), **session.get_bootstrap_env_vars()})
            job_id = self.submit(script, name, job_dir, job_env, resources)
            context.log.info(f"Submitted Slurm job {job_id} ({name}), folder {job_dir}")
            try:
                state, code = self.wait(job_id)
            except DagsterExecutionInterruptedError:
                context.log.info(f"Step interrupted: cancelling Slurm job {job_id}.")
                self.cancel(job_id)
                raise
            out, err = job_dir / f"slurm-{job_id}.out", job_dir / f"slurm-{job_id}.err"
            for label, path in (("stdout", out), ("stderr", err)):
                text = _tail(path)
                if text.strip():
                    context.log.info(f"Slurm job {job_id} {label} (tail):\n{text}")
            if state != "COMPLETED" or code not in ("0:0", ""):
                raise SlurmJobError(
                    f"Slurm job {job_id} ({name}) ended {state} (exit code {code or '?'}); "
                    f"see {err}. Retry the step to submit it again."
                )
        return PipesClientCompletedInvocation(
            session,
            metadata={"slurm_job_id": job_id, "slurm_state": state, "slurm_folder": str(job_dir)},
        )

    def submit(
        self,
        script: Path,
        name: str,
        job_dir: Path,
        env: Mapping[str, str],
        resources: ModelResources | None = None,
    ) -> str:
        """Submit a job script with this resource's settings; return the job id."""
        cores = cpu_cores(resources) if resources else None
        mem_bytes = memory_bytes(resources) if resources else None
        cpus = math.ceil(cores) if cores else self.cpus
        mem = f"{math.ceil(mem_bytes / 2**20)}M" if mem_bytes else self.mem
        args = [
            "sbatch",
            "--parsable",
            f"--job-name={name}",
            f"--cpus-per-task={cpus}",
            f"--time={self.time_limit}",
            f"--chdir={job_dir}",
            f"--output={job_dir}/slurm-%j.out",
            f"--error={job_dir}/slurm-%j.err",
            "--export=ALL",
        ]
        if self.partition:
            args.append(f"--partition={self.partition}")
        if mem:
            args.append(f"--mem={mem}")
        out = self._slurm(*args, *self.sbatch_args, str(script), env=env)
        return out.strip().split(";")[0]

    def wait(self, job_id: str) -> tuple[str, str]:
        """Poll until the job leaves the queue; return its final (state, exit code)."""
        while self._queued(job_id):
            time.sleep(self.poll_interval_s)
        state, code = self.job_state(job_id)
        while state in ACTIVE:  # squeue and slurmctld can disagree for a moment
            time.sleep(self.poll_interval_s)
            state, code = self.job_state(job_id)
        return state, code

    # -- model chunks ----------------------------------------------------------------------------
    def evaluate_chunk(
        self,
        context: dg.OpExecutionContext | dg.AssetExecutionContext,
        model: str,
        points: Sequence[Mapping[str, Any]],
        env: Mapping[str, str] | None = None,
        batch: bool = True,
        resources: ModelResources | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Evaluate `points` of `model` ('package.module:ATTR') in one Slurm job.

        `batch=False` calls the model's plain function per point (the scan's runners do so for
        a one-point chunk, as the in-process evaluation does).

        Returns (outputs, one per point in order; the job's summary: points, seconds, host,
        slurm_job_id). Raises `SlurmJobError` when the job does not complete. As with every
        Pipes client, the calling asset must return its result (`MaterializeResult`/`Output`).
        """

        def launch(key: str, extras: dict[str, Any]) -> PipesClientCompletedInvocation:
            return self.run(
                context=context,
                command=[self.python, "-m", WORKER],
                extras=extras,
                env=env,
                job_name=f"{self.job_name_prefix}-{model.rsplit(':', 1)[-1].lower()}",
                resources=resources,
            )

        return evaluate_in_job(self.work_dir, model, points, batch, launch)


def _quote(text: str) -> str:
    """Quote a word for bash."""
    return "'" + text.replace("'", "'\\''") + "'"
