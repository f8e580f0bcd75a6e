"""Partitions for model assets from a small spec: static keys, dynamic sets, time windows.

`PartitionSpec` is what a graph YAML or Python declaration writes; `build_partitions_def` turns
it into the Dagster definition. Model assets built with these partitions use
`BackfillPolicy.single_run()` so a backfill over a range is one run (see `model_partitions.py`).
"""

from typing import Literal

import dagster as dg
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lume_assets.errors import ConfigError

PartitionKind = Literal["static", "dynamic", "hourly", "daily", "weekly", "monthly", "cron"]


class PartitionSpec(BaseModel):
    """How a model asset is partitioned."""

    model_config = ConfigDict(extra="forbid")

    kind: PartitionKind
    keys: list[str] | None = Field(default=None, description="static: the partition keys.")
    name: str | None = Field(default=None, description="dynamic: the partition set's name.")
    start: str | None = Field(default=None, description="time windows: first window start.")
    end: str | None = Field(default=None, description="time windows: end (exclusive).")
    cron: str | None = Field(default=None, description="cron: window boundaries.")
    fmt: str | None = Field(default=None, description="cron: partition key date format.")
    timezone: str = Field(default="UTC", description="time windows: IANA time zone.")

    @model_validator(mode="after")
    def _check(self) -> "PartitionSpec":
        """Require the fields each kind needs."""
        needs = {"static": ["keys"], "dynamic": ["name"], "cron": ["start", "cron", "fmt"]}
        required = needs.get(self.kind, ["start"])
        missing = [f for f in required if not getattr(self, f)]
        if missing:
            raise ValueError(f"{self.kind} partitions need {', '.join(missing)}")
        if self.keys is not None and len(set(self.keys)) != len(self.keys):
            raise ValueError("static partition keys must be unique")
        return self


def build_partitions_def(spec: PartitionSpec) -> dg.PartitionsDefinition:
    """Return the Dagster partitions definition for `spec` (ConfigError if Dagster refuses)."""
    try:
        if spec.kind == "static":
            return dg.StaticPartitionsDefinition(list(spec.keys or []))
        if spec.kind == "dynamic":
            return dg.DynamicPartitionsDefinition(name=spec.name)
        if spec.kind == "cron":
            return dg.TimeWindowPartitionsDefinition(
                cron_schedule=spec.cron,
                fmt=spec.fmt,
                start=spec.start,
                end=spec.end,
                timezone=spec.timezone,
            )
        window = {"start_date": spec.start, "end_date": spec.end, "timezone": spec.timezone}
        cls = {
            "hourly": dg.HourlyPartitionsDefinition,
            "daily": dg.DailyPartitionsDefinition,
            "weekly": dg.WeeklyPartitionsDefinition,
            "monthly": dg.MonthlyPartitionsDefinition,
        }[spec.kind]
        return cls(**window)
    except (dg.DagsterInvalidDefinitionError, ValueError, TypeError) as exc:
        raise ConfigError(f"Invalid {spec.kind} partitions {spec.model_dump()}: {exc}") from None
