"""In-process backend: launches the code location's assets on a local DagsterInstance.

Runs execute in a background thread of this process (`execute_in_process`), one at a time, on
the instance at DAGSTER_HOME (created under LUME_HOME when unset), so `submit` returns at once
and `status` / `wait` read the run from the instance like they would from a server.
"""

import contextlib
import importlib
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.utils import make_new_backfill_id, make_new_run_id

from lume_assets.api.catalog import ModelEntry, find_model, model_entries, run_config
from lume_assets.api.inputs import check_inputs
from lume_assets.api.records import STEPS_DONE, BackfillInfo, Progress, RunInfo, utc_time
from lume_assets.deploy.liveness import fail_dead_runs, fail_if_dead, process_tags
from lume_assets.errors import ClientError, LumeError

POLL_S = 0.2
#: Run config keeping Dagster's console logger to warnings (the client reports progress itself).
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
#: Environment switch (`lume-assets --debug`) that shows Dagster's own errors and stack traces.
DEBUG_ENV = "LUME_DEBUG"


def console_config() -> dict[str, Any]:
    """Run config of Dagster's console logger: warnings only; with LUME_DEBUG, everything.

    Without it, a failing step's stack trace stays in the run's event log and the client
    reports the one-line failure message itself.
    """
    level = "DEBUG" if os.environ.get(DEBUG_ENV) else "CRITICAL"
    return {"loggers": {"console": {"config": {"log_level": level}}}}


RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def failure_message(event: Any) -> str | None:
    """The user-facing message of a step/run failure event."""
    dagster_event = event.dagster_event
    if dagster_event is None:
        return None
    if dagster_event.event_type == DagsterEventType.STEP_FAILURE:
        data = dagster_event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            return data.user_failure_data.description
        if data.error is not None:
            error = data.error
            while error.cause is not None:  # the user's exception, not Dagster's wrapper
                error = error.cause
            return error_text(error.cls_name, error.message)
    return dagster_event.message or event.user_message or None


def error_text(cls_name: str | None, message: str) -> str:
    """'Class: message' on one line, without repeating a class name the message starts with."""
    text = " ".join(message.split())
    if not cls_name:
        return text
    # 'lume_assets.errors.X: msg' or 'X: msg' already name the class: keep it once, short
    head, sep, rest = text.partition(": ")
    if sep and (head == cls_name or head.endswith(f".{cls_name}")):
        text = rest
        head, sep, rest = text.partition(": ")
        if sep and (head == cls_name or head.endswith(f".{cls_name}")):
            text = rest
    return f"{cls_name}: {text}"


class LocalBackend:
    """Runs, statuses and backfills on an in-process instance with the project's Definitions."""

    def __init__(
        self,
        definitions: dg.Definitions | None = None,
        models: Sequence[Any] | None = None,
        instance: dg.DagsterInstance | None = None,
    ) -> None:
        """Use `definitions` (default: this folder's code location, loaded on first use) and
        `instance` (DAGSTER_HOME, opened on first use)."""
        self._default = definitions is None
        self._definitions = definitions
        self._models = list(models or [])
        self._entries: dict[str, ModelEntry] | None = None
        self._owns_instance = instance is None
        self._instance = instance
        self._instance_ready = False
        self._instance_lock = threading.Lock()
        #: Why the code location failed to load, when a model was served without it.
        self.location_error: LumeError | None = None
        #: `package.module:SPEC` references and catalogue names -> served model names.
        self._aliases: dict[str, str] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lume-run")
        self._futures: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()

    @property
    def definitions(self) -> dg.Definitions:
        """The code location's Definitions (loaded on first use: results need none)."""
        if self._definitions is None:
            from lume_assets.location import load_definitions

            self._definitions = load_definitions()
        return self._definitions

    @property
    def entries(self) -> dict[str, ModelEntry]:
        """Every served model by name (the location's are also kept as a snapshot)."""
        if self._entries is None:
            definitions = self.definitions
            self._entries = model_entries(definitions, self._models)
            if self._default and not self._aliases and self.location_error is None:
                from lume_assets.api.cache_hits import hit_facts
                from lume_assets.api.model_snapshot import write_snapshot

                facts = {n: hit_facts(definitions, e) for n, e in self._entries.items()}
                write_snapshot(
                    (e.info for e in self._entries.values()),
                    {n: f.model_dump() for n, f in facts.items() if f is not None},
                )
        return self._entries

    @property
    def instance(self) -> dg.DagsterInstance:
        """The Dagster instance (DAGSTER_HOME), opened on first use: listing models needs none."""
        with self._instance_lock:  # one instance even when a run thread asks at the same time
            if not self._instance_ready:
                if self._instance is None:
                    from lume_assets.deploy.instance import open_instance

                    self._instance = open_instance()  # storage created once, under a lock
                fail_dead_runs(self._instance)  # runs left STARTED by a killed command fail now
                self._instance_ready = True
        return self._instance

    # -- models --------------------------------------------------------------------------------
    def model(self, name: str) -> ModelEntry:
        """The entry of model `name`: served by the location, else an installed (entry point)
        or `package.module:SPEC` model added on the fly (ClientError listing the models). A
        model served only as a graph node is added as a model of its own: running it by name
        evaluates the model, not one node of a graph."""
        name = self._aliases.get(name, name)
        try:
            entry = self.entries.get(name)
        except LumeError as exc:  # a broken location must not stop an installed model
            spec = self._catalogue_model(name)
            if spec is None:
                raise
            from lume_assets.serving import build_resources

            self.location_error = exc
            self._definitions = dg.Definitions(resources=build_resources())
            return self.add_model(spec, alias=name)
        if entry is not None and not graph_node(entry):
            return entry
        spec = self._catalogue_model(name) or (entry.spec if entry is not None else None)
        if spec is None:
            return entry if entry is not None else find_model(self.entries, name)
        return self.add_model(spec, alias=name)

    def _catalogue_model(self, name: str) -> Any:
        """The ModelSpec of an installed model or an import reference (None if neither)."""
        from lume_assets.models.catalogue import CATALOGUE

        if ":" not in name and name not in CATALOGUE:
            return None
        try:
            return CATALOGUE.resolve(name)
        except LumeError as exc:
            raise ClientError(str(exc)) from None

    def add_model(self, spec: Any, alias: str | None = None) -> ModelEntry:
        """Serve `spec` (a ModelSpec) in this client too: one `model_asset` merged in."""
        from lume_assets.assets.model_assets import model_asset
        from lume_assets.serving import serve

        known = self.entries.get(spec.name)
        if known is None or graph_node(known):
            serve([spec])
            self._definitions = dg.Definitions.merge(
                self.definitions, dg.Definitions(assets=[model_asset(spec)])
            )
            self._models.append(spec)
            self._entries = None
        if alias:
            self._aliases[alias] = spec.name
        return self.entries[spec.name]

    def validate(self, entry: ModelEntry, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Inputs validated by the model's spec before any run starts (ModelInputError)."""
        if entry.spec is None:
            return dict(inputs)
        return entry.spec.validate_inputs(inputs)

    # -- runs ----------------------------------------------------------------------------------
    def _job(self) -> dg.JobDefinition:
        """The implicit asset job of the definitions."""
        return self.definitions.resolve_implicit_global_asset_job_def()

    def _launch(
        self,
        selection: Sequence[dg.AssetKey] | None,
        config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        partition_key: str | None = None,
        job: dg.JobDefinition | None = None,
    ) -> str:
        """Queue one in-process run of `selection` (or all of `job`); return its run id."""
        run_id = make_new_run_id()
        job = job or self._job()
        instance = self.instance  # opened here, not in the run thread
        # The run opens the model registry (SQLAlchemy's ORM, imported lazily) while this thread
        # may query the result store: import it here first, or one thread can find the ORM
        # half-initialized by the other ("partially initialized module sqlalchemy.orm.exc").
        importlib.import_module("lume_assets.models.registry")

        def execute() -> Any:
            return job.execute_in_process(
                run_config={**console_config(), **dict(config or {})},
                instance=instance,
                asset_selection=None if selection is None else list(selection),
                run_id=run_id,
                tags={**process_tags(), **dict(tags or {})},
                partition_key=partition_key,
                raise_on_error=False,
            )

        with self._lock:
            self._futures[run_id] = self._executor.submit(execute)
        return run_id

    def submit(
        self,
        model: str,
        inputs: Mapping[str, Any],
        force: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Validate `inputs`, queue a run of the model's assets and return its run id."""
        entry = self.model(model)
        inputs = check_inputs(entry.info, inputs)  # the same one-line refusals as remote runs
        config = run_config(entry.info, self.validate(entry, inputs), force)
        return self._launch(list(entry.assets_def.keys), config, tags)

    def submit_graph(
        self, graph: str, inputs: Mapping[str, Any], force: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """Queue one run of graph `graph`'s job (every node, upstream first) with `node.input`
        values; return the run id and the graph's nodes by name."""
        from lume_assets.api.graphs import graph_job_name, graph_nodes, graph_run_config

        nodes = graph_nodes(self.definitions, graph)
        config = graph_run_config(graph, nodes, inputs, force)
        job = self.definitions.resolve_job_def(graph_job_name(graph))
        return self._launch(None, config, job=job), nodes

    def status(self, run_id: str) -> RunInfo:
        """The run's status, materialized assets, step counts and first failure message."""
        run = self.instance.get_run_by_id(run_id)
        if run is None:
            with self._lock:
                pending = run_id in self._futures
            if pending:
                return RunInfo(run_id=run_id, status="QUEUED")
            raise ClientError(
                f"No run {run_id!r} in the Dagster instance at {self.instance.root_directory}; "
                "check the run id (lume-assets status lists it after a run)."
            )
        run = fail_if_dead(self.instance, run)  # a run whose process is gone never finishes
        stats = self.instance.get_run_stats(run_id)
        events = self.instance.all_logs(
            run_id,
            of_type={
                DagsterEventType.ASSET_MATERIALIZATION,
                DagsterEventType.STEP_FAILURE,
                DagsterEventType.RUN_FAILURE,
            },
        )
        assets = [
            e.dagster_event.asset_key.to_user_string()
            for e in events
            if e.dagster_event
            and e.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION
        ]
        errors = [
            failure_message(e)
            for e in events
            if e.dagster_event
            and e.dagster_event.event_type != DagsterEventType.ASSET_MATERIALIZATION
        ]
        steps = self.instance.get_run_step_stats(run_id)
        return RunInfo(
            run_id=run_id,
            status=run.status.value,
            job_name=run.job_name,
            assets=list(dict.fromkeys(assets)),
            steps_total=len(run.step_keys_to_execute or []) or len(steps),
            steps_done=sum(1 for s in steps if s.status.value in STEPS_DONE),
            started=utc_time(stats.start_time),
            ended=utc_time(stats.end_time),
            error=next((e for e in errors if e), None),
            tags=dict(run.tags),
        )

    def wait(
        self, run_id: str, timeout: float | None = None, progress: Progress | None = None
    ) -> RunInfo:
        """Block until the run finishes (ClientError on timeout); return its final status.

        A run of this process is waited for on its future: its status is read again meanwhile
        only to report the progress of a run of several steps (or of steps not known yet), as
        each read holds the interpreter lock the run's own thread needs.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            future = self._futures.get(run_id)
        info = self.status(run_id)
        while True:
            if progress is not None and info.steps_total:
                progress(info.steps_done, info.steps_total)
            if info.finished or (future is not None and future.done()):
                if future is not None:
                    future.result()  # surface framework errors raised outside the run
                    with self._lock:
                        self._futures.pop(run_id, None)
                return self.status(run_id)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left < 0:
                raise ClientError(f"Run {run_id} did not finish within {timeout:g} s.")
            if future is None:
                time.sleep(POLL_S)
            elif progress is None or info.steps_total == 1:
                wait_for([future], timeout=left)  # nothing to report before it ends
            else:
                wait_for([future], timeout=POLL_S if left is None else min(POLL_S, left))
            info = self.status(run_id)

    def materialization_metadata(self, run_id: str, asset: str) -> dict[str, Any]:
        """Metadata values of `asset`'s materialization in the run (empty if none)."""
        for event in self.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
            mat = event.dagster_event.materialization
            if mat.asset_key.to_user_string() == asset:
                return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        return {}

    # -- backfills -----------------------------------------------------------------------------
    def backfill(
        self, asset: str, partitions: Sequence[str] | None = None, progress: Progress | None = None
    ) -> BackfillInfo:
        """Materialize `partitions` (all if None): one run for a contiguous single-run range."""
        assets_def = self.assets_def(asset)
        keys = check_partitions(asset, assets_def, partitions, self.instance)
        policy = assets_def.backfill_policy
        everything = assets_def.partitions_def.get_partition_keys(
            dynamic_partitions_store=self.instance
        )
        single = policy is not None and policy.max_partitions_per_run is None
        runs: list[tuple[str, list[str]]] = []
        if single and _contiguous(keys, everything):
            tags = {RANGE_START: keys[0], RANGE_END: keys[-1]}
            runs.append((self._launch(list(assets_def.keys), tags=tags), keys))
        else:
            runs.extend((self._launch(list(assets_def.keys), partition_key=k), [k]) for k in keys)
        done, failed, errors = 0, [], []

        points: list[int] = []  # the scan's total points, once its progress lines report them

        def on_line(line: str) -> None:
            if progress is not None and len(runs) == 1:
                counted = _points(line)
                if counted:
                    points[:] = [counted[1]]
                    progress(*counted)

        with _progress_lines(on_line):
            for run_id, part in runs:
                info = self.wait(run_id)
                if info.succeeded:
                    done += len(part)
                else:
                    failed.append(run_id)
                    errors.append(info.error or info.status)
                if progress is not None and len(runs) > 1:
                    progress(done, len(keys))  # partitions done; a failed one never counts
        if progress is not None and len(runs) == 1 and not failed:
            total = points[0] if points else len(keys)  # in the units reported so far
            progress(total, total)  # a failed scan never reports itself complete
        return BackfillInfo(
            backfill_id=make_new_backfill_id(),
            asset=asset,
            status="COMPLETED_FAILED" if failed else "COMPLETED_SUCCESS",
            partitions=keys,
            run_ids=[r for r, _ in runs],
            partitions_done=done,
            error="; ".join(errors) or None,
        )

    def assets_def(self, asset: str) -> dg.AssetsDefinition:
        """The AssetsDefinition holding `asset` ('a/b'), or a ClientError listing assets."""
        key = dg.AssetKey.from_user_string(asset)
        try:
            return self.definitions.resolve_assets_def(key)
        except Exception:  # noqa: BLE001 - Dagster raises several kinds for unknown keys
            known = sorted(k.to_user_string() for k in self.definitions.resolve_all_asset_keys())
            raise ClientError(f"No asset {asset!r}; assets: {', '.join(known)}.") from None

    def close(self) -> None:
        """Wait for queued runs, release the worker thread and the instance we opened."""
        self._executor.shutdown(wait=True)
        if self._owns_instance and self._instance is not None:
            self._instance.dispose()


def graph_node(entry: ModelEntry) -> bool:
    """Whether a model entry is a node of a graph (`graph/node/model/<node>_result`)."""
    return entry.info.result_asset.count("/") >= 3


def _progress_lines(listener: Callable[[str], None]) -> Any:
    """Subscribe to in-process scan progress lines (automation.progress) when available."""
    try:
        from lume_assets.automation.progress import subscribe
    except ImportError:  # scans without progress reporting
        return contextlib.nullcontext()
    return subscribe(listener)


def _contiguous(keys: Sequence[str], everything: Sequence[str]) -> bool:
    """Whether `keys` are a run of consecutive partitions in order."""
    if not keys:
        return False
    start = everything.index(keys[0])
    return list(everything[start : start + len(keys)]) == list(keys)


def _points(line: str) -> tuple[int, int] | None:
    """(done, total) from a progress line '...: 120/1000 points ...'."""
    match = re.search(r"(\d+)/(\d+) points", line)
    return (int(match.group(1)), int(match.group(2))) if match else None


def check_partitions(
    asset: str, assets_def: Any, partitions: Sequence[str] | None, instance: Any = None
) -> list[str]:
    """The partitions to backfill, checked against the asset's partitions (ClientError)."""
    pdef = assets_def.partitions_def
    if pdef is None:
        raise ClientError(f"Asset {asset!r} is not partitioned; materialize it with `run`.")
    everything = list(pdef.get_partition_keys(dynamic_partitions_store=instance))
    if not partitions:
        return everything
    unknown = [p for p in partitions if p not in everything]
    if unknown:
        shown = ", ".join(everything[:10]) + (" ..." if len(everything) > 10 else "")
        raise ClientError(f"Asset {asset!r} has no partition(s) {unknown}; partitions: {shown}.")
    order = {k: i for i, k in enumerate(everything)}
    return sorted(dict.fromkeys(partitions), key=order.__getitem__)
