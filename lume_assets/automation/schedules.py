"""Cron schedules for asset graphs, built from a small, validated, time-zone-aware spec.

A graph that wants to run on a clock (e.g. the nightly re-validation of a surrogate) declares a
`ScheduleSpec`; `build_schedule` turns it into a Dagster schedule ticking in the spec's time zone
(so "02:00 Europe/Berlin" stays 02:00 local across daylight-saving changes). Each run is tagged
with its local scheduled time; a time-window partitioned target runs the partition that the
tick closes, a statically partitioned one (a chunked scan) runs all its partitions in one run.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from dagster._core.definitions.partitions.context import partition_loading_context
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._utils.schedules import is_valid_cron_string
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lume_assets.errors import ConfigError

SCHEDULED_FOR_TAG = "lume/scheduled_for"


class ScheduleSpec(BaseModel):
    """When and how a graph runs on a clock."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Schedule name shown in Dagit, e.g. 'nightly_revalidation'.")
    cron: str = Field(description="Cron expression, e.g. '0 2 * * *' for 02:00 every day.")
    timezone: str = Field(default="UTC", description="IANA time zone the cron is read in.")
    run_config: dict[str, Any] = Field(default_factory=dict, description="Config of each run.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags of each run.")
    description: str | None = None
    running: bool = Field(default=False, description="Start the schedule running by default.")

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        """Refuse a cron string Dagster cannot parse."""
        if not is_valid_cron_string(value):
            raise ValueError(
                f"{value!r} is not a valid cron expression; use five fields "
                "'minute hour day-of-month month day-of-week', e.g. '0 2 * * *'."
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        """Refuse an unknown IANA time zone."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a known IANA time zone; use e.g. 'UTC', "
                "'America/Los_Angeles' or 'Europe/Berlin'."
            ) from None
        return value


def parse_schedule_specs(raw: Sequence[Mapping[str, Any]]) -> list[ScheduleSpec]:
    """Validate schedule entries (e.g. a graph YAML's `schedules:` list), as ConfigError if bad."""
    specs = []
    for index, entry in enumerate(raw):
        try:
            specs.append(ScheduleSpec.model_validate(entry))
        except ValueError as exc:
            raise ConfigError(f"schedules[{index}] is invalid: {exc}") from None
    return specs


def graph_schedules(
    specs: Sequence[ScheduleSpec],
    target: dg.JobDefinition | UnresolvedAssetJobDefinition | Sequence[dg.AssetsDefinition],
) -> list[dg.ScheduleDefinition]:
    """One schedule per spec of a graph (its `schedules:` list), each running `target`."""
    if not is_job(target):
        target = list(target)
    return [build_schedule(spec, target) for spec in specs]


def is_job(target: Any) -> bool:
    """Whether `target` is a job (a resolved or unresolved asset job), not a list of assets.

    (An UnresolvedAssetJobDefinition is a record that passes `isinstance(x, Sequence)`.)
    """
    return isinstance(target, dg.JobDefinition | UnresolvedAssetJobDefinition)


def local_time(moment: datetime | None, timezone: str) -> datetime:
    """Return `moment` (default now) as an aware datetime in `timezone`."""
    zone = ZoneInfo(timezone)
    if moment is None:
        return datetime.now(zone)
    if moment.tzinfo is None:
        raise ConfigError(f"Scheduled time {moment} has no time zone; pass an aware datetime.")
    return moment.astimezone(zone)


def build_schedule(
    spec: ScheduleSpec,
    target: dg.JobDefinition | UnresolvedAssetJobDefinition | Sequence[dg.AssetsDefinition],
) -> dg.ScheduleDefinition:
    """Build a time-zone-aware cron schedule that runs `target` (a job or assets)."""
    partitions_def = _target_partitions(target)

    def _evaluate(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        scheduled = local_time(context.scheduled_execution_time, spec.timezone)
        tags = {**spec.tags, SCHEDULED_FOR_TAG: scheduled.isoformat()}
        partition_key = None
        if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
            with partition_loading_context(effective_dt=scheduled):
                partition_key = partitions_def.get_last_partition_key()
            if partition_key is None:
                return dg.SkipReason(f"no complete partition ends before {scheduled}")
        elif isinstance(partitions_def, dg.StaticPartitionsDefinition):
            # e.g. a nightly re-run of a chunked scan: every chunk, as one single run
            keys = partitions_def.get_partition_keys()
            tags[ASSET_PARTITION_RANGE_START_TAG] = keys[0]
            tags[ASSET_PARTITION_RANGE_END_TAG] = keys[-1]
        return dg.RunRequest(
            run_key=f"{spec.name}:{scheduled.isoformat()}",
            run_config=spec.run_config,
            tags=tags,
            partition_key=partition_key,
        )

    return dg.ScheduleDefinition(
        name=spec.name,
        cron_schedule=spec.cron,
        execution_timezone=spec.timezone,
        execution_fn=_evaluate,
        target=target,
        description=spec.description or f"Runs on '{spec.cron}' ({spec.timezone}).",
        default_status=dg.DefaultScheduleStatus.RUNNING
        if spec.running
        else dg.DefaultScheduleStatus.STOPPED,
    )


def _target_partitions(target: Any) -> dg.PartitionsDefinition | None:
    """Return the partitions definition shared by the target's assets (time-window or static)."""
    candidates = [target] if is_job(target) else list(target)
    found = {getattr(t, "partitions_def", None) for t in candidates} - {None}
    if len(found) > 1:
        raise ConfigError("A scheduled target's assets must share one partitioning.")
    part = next(iter(found), None)
    if part is not None and not isinstance(
        part, dg.TimeWindowPartitionsDefinition | dg.StaticPartitionsDefinition
    ):
        raise ConfigError(
            f"Cannot schedule assets partitioned by {type(part).__name__}: a schedule runs "
            "time-window partitions (the window that just closed) or static ones (all of them)."
        )
    return part
