"""Launch a job of the lume_assets code location through the instance's run launcher.

This is what `dagster job launch` and Dagit's "Materialize" do: load the workspace (a gRPC code
server per location), snapshot the job and its execution plan, create the run, and hand it to the
instance's run coordinator (queued → the daemon launches it) or directly to its run launcher
(DefaultRunLauncher, LumeDockerRunLauncher, K8sRunLauncher, as configured in dagster.yaml).
"""

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from lume_assets.deploy.placement import check_within_limits, resources_from_tags
from lume_assets.errors import DeploymentError, RunFailedError

DEMO_JOB = "demo_job"


def _remote_job(workspace: Any, job_name: str, location: str | None) -> tuple[Any, Any, Any]:
    """Return (code location, repository, remote job) for `job_name` in the workspace."""
    names = list(workspace.code_location_names)
    location = location or (names[0] if len(names) == 1 else None)
    if location is None or location not in names:
        raise DeploymentError(
            f"Code location {location!r} not in the workspace (have {names}); pass location=."
        )
    if workspace.has_code_location_error(location):
        raise DeploymentError(
            f"Code location {location!r} failed to load: "
            f"{workspace.get_code_location_error(location).message.strip()}"
        )
    code_location = workspace.get_code_location(location)
    for repo in code_location.get_repositories().values():
        if repo.has_job(job_name):
            return code_location, repo, repo.get_full_job(job_name)
    raise DeploymentError(f"No job {job_name!r} in code location {location!r}.")


def _preflight(instance: dg.DagsterInstance, tags: Mapping[str, str]) -> None:
    """Refuse a run whose model resources exceed the Kubernetes launcher's limits."""
    resources = resources_from_tags(tags)
    launcher_resources = getattr(instance.run_launcher, "resources", None)
    if resources is not None and isinstance(launcher_resources, Mapping):
        check_within_limits(resources, launcher_resources)


def launch_job(
    instance: dg.DagsterInstance,
    workspace_file: str | Path,
    job_name: str = DEMO_JOB,
    *,
    location: str | None = None,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    bypass_queue: bool = False,
    wait_timeout: float | None = None,
) -> str:
    """Create a run of `job_name`, submit it (or launch it, `bypass_queue`) and return its id.

    With `wait_timeout`, wait for the run to finish (RunFailedError if it does not succeed).
    """
    # Dagster's workspace machinery is heavy; only launching needs it.
    from dagster._core.definitions.selector import JobSubsetSelector
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._utils.tags import normalize_tags

    target = WorkspaceFileTarget(paths=[str(Path(workspace_file).absolute())])
    with WorkspaceProcessContext(instance, target) as process_context:
        workspace = process_context.create_request_context()
        code_location, repo, remote_job = _remote_job(workspace, job_name, location)
        run_tags = normalize_tags({**remote_job.tags, **(tags or {})})
        _preflight(instance, run_tags)
        selector = JobSubsetSelector(
            location_name=code_location.name,
            repository_name=repo.name,
            job_name=job_name,
            op_selection=None,
        )
        remote_job = code_location.get_job(selector)
        plan = code_location.get_execution_plan(
            remote_job,
            dict(run_config or {}),
            step_keys_to_execute=None,
            known_state=None,
            instance=instance,
        )
        run = instance.create_run(
            job_name=job_name,
            run_id=None,
            run_config=dict(run_config or {}),
            resolved_op_selection=None,
            step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags=run_tags,
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=repo.asset_graph,
        )
        if bypass_queue:
            instance.launch_run(run.run_id, workspace)
        else:
            instance.submit_run(run.run_id, workspace)
        if wait_timeout is not None:
            # Inside the workspace context: a DefaultRunLauncher runs in its code server.
            wait_for_run(instance, run.run_id, timeout=wait_timeout)
        return run.run_id


def _engine_error(event: Any) -> bool:
    """Return whether an engine event carries an error (e.g. the run worker could not start)."""
    return getattr(event.event_specific_data, "error", None) is not None


def run_failure_reason(instance: dg.DagsterInstance, run_id: str) -> str:
    """Return the failure messages (step errors, run failure) recorded for `run_id`."""
    lines = []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type in (
            dg.DagsterEventType.STEP_FAILURE,
            dg.DagsterEventType.RUN_FAILURE,
            dg.DagsterEventType.ENGINE_EVENT,
        ) and (event.event_type != dg.DagsterEventType.ENGINE_EVENT or _engine_error(event)):
            error = getattr(event.event_specific_data, "error", None)
            lines.append(f"{event.event_type_value}: {event.message or ''}")
            while error is not None:  # the message of each error in the chain, no stacks
                lines.append(f"  {error.cls_name}: {error.message.strip()}")
                error = error.cause
    return "\n".join(lines) or "no failure event was recorded"


def wait_for_run(
    instance: dg.DagsterInstance, run_id: str, timeout: float = 300.0, poll: float = 0.5
) -> dg.DagsterRun:
    """Wait until run `run_id` finishes; return it on success, raise RunFailedError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        run = instance.get_run_by_id(run_id)
        if run is None:
            raise RunFailedError(
                f"Run {run_id} does not exist in instance {instance.root_directory}."
            )
        if run.is_finished:
            break
        if time.monotonic() > deadline:
            health = ""
            launcher = instance.run_launcher
            if launcher.supports_check_run_worker_health:
                health = f" Run worker: {launcher.check_run_worker_health(run).msg or 'running'}."
            raise RunFailedError(
                f"Run {run_id} is still {run.status.value} after {timeout:.0f} s.{health} "
                "Is the daemon running (queued runs) and can the run worker reach the instance DB?"
            )
        time.sleep(poll)
    if run.status != dg.DagsterRunStatus.SUCCESS:
        raise RunFailedError(
            f"Run {run_id} ended {run.status.value}:\n{run_failure_reason(instance, run_id)}"
        )
    return run
