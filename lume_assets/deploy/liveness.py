"""Runs whose process is gone are failed, never left STARTED: process tags + a health check.

Runs executed in-process (`lume-assets run`, `scan`, `demo`, the Python API) carry the tag
`lume/process`: the host, pid and start time of the process executing them. A run that is not
finished while that process no longer exists (killed with SIGKILL, out of memory, a closed
laptop) can never finish. `fail_if_dead` marks such a run FAILURE with a message saying so; the
local backend calls it on every status read and on every new command (`fail_dead_runs`), so
`lume-assets status --wait` never waits on a dead run. `LocalRunLauncher` (dagster.yaml) gives
the daemon's run monitoring the same check, so Dagit shows those runs failed too.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from pydantic import ValidationError

from lume_assets.storage.processes import ProcessId, is_alive, this_process

PROCESS_TAG = "lume/process"
#: Statuses of a run that has not finished (queued runs have no process yet).
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def process_tags() -> dict[str, str]:
    """Tags recording that the calling process executes the run."""
    return {PROCESS_TAG: this_process().model_dump_json()}


def run_process(run: dg.DagsterRun) -> ProcessId | None:
    """The process recorded as executing `run` (None: not an in-process run)."""
    raw = run.tags.get(PROCESS_TAG)
    if not raw:
        return None
    try:
        return ProcessId.model_validate_json(raw)
    except ValidationError:
        return None


def dead_process(run: dg.DagsterRun) -> ProcessId | None:
    """The process of an unfinished `run` if it is known to be gone, else None."""
    process = run_process(run)
    if run.is_finished or process is None or is_alive(process) is not False:
        return None
    return process


def fail_if_dead(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRun:
    """Mark `run` FAILURE if its process is gone; return the run as it now stands."""
    process = dead_process(run)
    if process is None:
        return run
    current = instance.get_run_by_id(run.run_id)  # another command may have just failed it
    if current is None or dead_process(current) is None:
        return current or run
    instance.report_run_failed(
        current,
        f"The process running this run (pid {process.pid} on {process.host}) ended before the "
        "run finished (killed?); marked FAILURE by lume_assets. Run it again.",
    )
    return instance.get_run_by_id(run.run_id) or current


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail every unfinished in-process run whose process is gone; return their run ids."""
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED)):
        if dead_process(run) is not None and fail_if_dead(instance, run).is_failure:
            failed.append(run.run_id)
    return failed


class LocalRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher whose worker health check knows in-process runs (`lume/process`).

    With `run_monitoring` enabled in dagster.yaml, the daemon asks this check about every
    STARTED run and fails those whose process is gone. Other runs report RUNNING (their worker
    belongs to the code server and is not checked here; max_runtime_seconds still applies).
    """

    @property
    def supports_check_run_worker_health(self) -> bool:
        """Yes: in-process runs are checked by their recorded process."""
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        """FAILED when the run's recorded process is gone, else RUNNING."""
        process = dead_process(run)
        if process is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"process {process.pid} on {process.host} is gone"
        )
