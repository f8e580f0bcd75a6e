"""Records the client returns: models, runs and backfills as plain pydantic objects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: A progress callback: (units done, units in total).
Progress = Callable[[int, int], None]

#: Dagster run statuses after which a run never changes again.
FINISHED = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
#: Step statuses that count as done in progress (a failed step never does).
STEPS_DONE = frozenset({"SUCCESS", "SKIPPED"})
#: Backfill (bulk action) statuses after which a backfill never changes again.
BACKFILL_FINISHED = frozenset(
    {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
)


class VariableInfo(BaseModel):
    """One model input or output as a user sees it: name, kind, default, units, allowed."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str = "scalar"
    default: Any = None
    units: str = ""
    allowed: str = ""
    description: str = ""
    #: The variable's full declaration (JSON), so inputs are checked alike locally and remotely.
    spec: dict[str, Any] | None = Field(default=None, repr=False)


class ModelInfo(BaseModel):
    """A model served by the code location: identity, people, variables and its assets."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    description: str = ""
    project: str | None = None
    group: str | None = None
    owners: list[str] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)
    inputs: list[VariableInfo] = Field(default_factory=list)
    outputs: list[VariableInfo] = Field(default_factory=list)
    assets: list[str] = Field(default_factory=list, description="Asset keys, 'a/b'.")
    result_asset: str = Field(description="Key of the asset holding the Result record.")
    op_name: str = Field(description="Op whose config takes the inputs.")
    source: str = Field(default="", description="Where it comes from: location, entry point.")


class RunInfo(BaseModel):
    """A run's state: status, what it materialized, and why it failed if it did."""

    run_id: str
    status: str = Field(description="Dagster run status: QUEUED, STARTED, SUCCESS, FAILURE...")
    job_name: str = ""
    assets: list[str] = Field(default_factory=list, description="Assets materialized so far.")
    steps_total: int = 0
    steps_done: int = Field(default=0, description="Steps that succeeded (or were skipped).")
    started: datetime | None = None
    ended: datetime | None = None
    error: str | None = Field(default=None, description="The first failure message, if any.")
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Whether the run reached a final status."""
        return self.status in FINISHED

    @property
    def succeeded(self) -> bool:
        """Whether the run succeeded."""
        return self.status == "SUCCESS"


class BackfillInfo(BaseModel):
    """A backfill of an asset's partitions: its runs and where it stands."""

    backfill_id: str
    asset: str
    status: str = Field(description="REQUESTED, COMPLETED, FAILED, CANCELED, ...")
    partitions: list[str] = Field(default_factory=list)
    run_ids: list[str] = Field(default_factory=list)
    partitions_done: int = 0
    error: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the backfill reached a final status."""
        return self.status in BACKFILL_FINISHED

    @property
    def succeeded(self) -> bool:
        """Whether every partition materialized."""
        return self.status in ("COMPLETED", "COMPLETED_SUCCESS") and not self.error


class ApprovalInfo(BaseModel):
    """An approval decision as the client reports it (local store or remote job events)."""

    id: int
    gate: str
    run_id: str
    status: str
    decided_by: str | None = None
    decided_at: str | None = None
    reason: str | None = None
    results: int = 0


def utc_time(ts: float | None) -> datetime | None:
    """A POSIX timestamp as an aware UTC datetime (None stays None)."""
    return datetime.fromtimestamp(ts, UTC) if ts else None
