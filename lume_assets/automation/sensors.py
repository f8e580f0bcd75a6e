"""The new-input sensor: each new or changed input file in an inbox becomes a partition and a run.

One tick returns a single `SensorResult` holding every run request and one
`AddDynamicPartitionsRequest`, so a flood of files (10,000 and more) is one batched tick. The run
key is the file path + content hash: a re-delivered identical file never runs twice, a changed
file runs once. Malformed files are moved to `rejected/` with an `.error.txt`; the sensor never
raises on user input. The file's validated inputs travel to the run as run config.
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.tags import PARTITION_NAME_TAG
from pydantic import BaseModel, ConfigDict, Field

from lume_assets.automation.inbox import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_SUFFIXES,
    InboxFile,
    InboxScanner,
    InputsValidator,
)
from lume_assets.errors import ConfigError
from lume_assets.settings import get_settings

RunConfigBuilder = Callable[[Mapping[str, Any]], Mapping[str, Any]]
INPUT_FILE_TAG = "lume/input_file"
INPUT_SHA256_TAG = "lume/input_sha256"


class InboxSensorSpec(BaseModel):
    """How a new-input sensor watches its inbox."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="lume_inbox_sensor", description="Sensor name shown in Dagit.")
    inbox_dir: Path | None = Field(
        default=None, description="Folder to watch; default LUME_INBOX_DIR or <home>/inbox."
    )
    suffixes: tuple[str, ...] = Field(default=DEFAULT_SUFFIXES, description="Files to take.")
    minimum_interval_seconds: int = Field(default=30, ge=1, description="Seconds between ticks.")
    settle_seconds: float = Field(
        default=0.0, ge=0, description="Ignore files changed more recently than this."
    )
    max_per_tick: int | None = Field(
        default=None, ge=1, description="At most this many files per tick (rest next tick)."
    )
    max_recent: int = Field(
        default=512, ge=0, description="Content hashes kept in the cursor to skip re-deliveries."
    )
    max_file_bytes: int = Field(
        default=DEFAULT_MAX_FILE_BYTES, ge=1, description="Larger input files are rejected."
    )
    max_depth: int = Field(
        default=DEFAULT_MAX_DEPTH, ge=1, description="Input files nested deeper are rejected."
    )
    running: bool = Field(default=False, description="Start the sensor running by default.")

    def resolved_inbox(self) -> Path:
        """Return the watched folder: this spec's, else the settings', else <home>/inbox."""
        settings = get_settings()
        return self.inbox_dir or settings.inbox_dir or settings.home / "inbox"


def default_run_config(op_name: str) -> RunConfigBuilder:
    """Return a builder that passes a file's inputs as the op config of `op_name`."""

    def _build(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"ops": {op_name: {"config": dict(inputs)}}}

    return _build


def _target_partitions(
    target: dg.AssetsDefinition | dg.JobDefinition,
    partitions_def: dg.DynamicPartitionsDefinition | None,
) -> dg.DynamicPartitionsDefinition:
    """Return the dynamic partitions definition the sensor adds keys to."""
    found = partitions_def or target.partitions_def
    if not isinstance(found, dg.DynamicPartitionsDefinition) or not found.name:
        raise ConfigError(
            f"The new-input sensor's target {_target_name(target)!r} must be partitioned by a "
            f"named DynamicPartitionsDefinition (got {found!r}); declare "
            "partitions_def=DynamicPartitionsDefinition(name=...) on it."
        )
    return found


def _target_name(target: dg.AssetsDefinition | dg.JobDefinition) -> str:
    """Return a display name for the sensor target."""
    if isinstance(target, dg.AssetsDefinition):
        return ", ".join(k.to_user_string() for k in sorted(target.keys))
    return target.name


def _default_builder(target: dg.AssetsDefinition | dg.JobDefinition) -> RunConfigBuilder:
    """Return the run-config builder for a single-op asset or a single-node job."""
    if isinstance(target, dg.AssetsDefinition):
        return default_run_config(target.op.name)
    nodes = target.graph.node_names()
    if len(nodes) != 1:
        raise ConfigError(
            f"Job {target.name!r} has {len(nodes)} top-level nodes; pass run_config_fn= to say "
            "which one receives the input file's values."
        )
    return default_run_config(nodes[0])


def _run_request(
    file: InboxFile, build: RunConfigBuilder, target: dg.AssetsDefinition | dg.JobDefinition
) -> dg.RunRequest:
    """Return the run request for one accepted input file."""
    return dg.RunRequest(
        run_key=file.run_key,
        partition_key=file.name,
        run_config=dict(build(file.inputs)),
        # Setting the partition tag here marks the request as resolved: Dagster otherwise rebuilds
        # the set of requested partitions for every request, O(n^2) in the files of one tick.
        tags={
            INPUT_FILE_TAG: str(file.path),
            INPUT_SHA256_TAG: file.sha256,
            PARTITION_NAME_TAG: file.name,
        },
        asset_selection=sorted(target.keys) if isinstance(target, dg.AssetsDefinition) else None,
    )


def build_inbox_sensor(
    spec: InboxSensorSpec,
    *,
    target: dg.AssetsDefinition | dg.JobDefinition,
    partitions_def: dg.DynamicPartitionsDefinition | None = None,
    inputs_model: type[BaseModel] | InputsValidator | None = None,
    run_config_fn: RunConfigBuilder | None = None,
) -> dg.SensorDefinition:
    """Build a sensor that turns each new or changed inbox file into a partition and a run."""
    dynamic = _target_partitions(target, partitions_def)
    build = run_config_fn or _default_builder(target)
    scanner_kwargs = {
        "inputs_model": inputs_model,
        "suffixes": spec.suffixes,
        "settle_seconds": spec.settle_seconds,
        "max_per_scan": spec.max_per_tick,
        "max_recent": spec.max_recent,
        "max_file_bytes": spec.max_file_bytes,
        "max_depth": spec.max_depth,
    }

    def _evaluate(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        inbox = spec.resolved_inbox()
        try:
            scan = InboxScanner(inbox, **scanner_kwargs).scan(context.cursor)
        except OSError as exc:
            context.log.error(f"cannot scan inbox {inbox}: {exc}")
            return dg.SkipReason(f"cannot scan inbox {inbox}: {exc}; check the folder exists.")
        for bad in scan.rejected:
            context.log.warning(f"rejected {bad.name} -> {bad.moved_to}: {bad.error}")
        requests: list[dg.RunRequest] = []
        for file in scan.accepted:
            try:
                requests.append(_run_request(file, build, target))
            except Exception as exc:  # a user run_config_fn failing must not stop the tick
                context.log.error(f"{file.name}: could not build run config: {exc}")
        summary = (
            f"{len(requests)} new input file(s), {len(scan.rejected)} rejected, "
            f"{scan.skipped_unchanged} unchanged, {scan.deferred} deferred in {inbox}"
        )
        context.log.info(summary)
        if not requests:
            return dg.SensorResult(skip_reason=summary, cursor=scan.cursor)
        keys = list(dict.fromkeys(r.partition_key for r in requests if r.partition_key))
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[dynamic.build_add_request(keys)],
            cursor=scan.cursor,
        )

    return dg.SensorDefinition(
        name=spec.name,
        evaluation_fn=_evaluate,
        minimum_interval_seconds=spec.minimum_interval_seconds,
        description=f"Runs {_target_name(target)} once per new or changed input file in "
        f"{spec.inbox_dir or 'the inbox (LUME_INBOX_DIR, default <home>/inbox)'}.",
        default_status=dg.DefaultSensorStatus.RUNNING
        if spec.running
        else dg.DefaultSensorStatus.STOPPED,
        target=target,
    )
