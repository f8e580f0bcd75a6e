"""The approval gate in Dagster: hold a node's results unpublished, decide from the launchpad.

A gated asset stores its results with ``published=False`` and calls `hold_for_approval`, which
records a pending approval (who/when comes later) and tells the run log how to approve. The run
ends at the gate. A person then approves or rejects with ``lume-assets approve <run or asset>``
or by launching the `approve_results` job from the Dagit launchpad; approving publishes the held
results, rejecting records why and keeps them unpublished.
"""

from collections.abc import Sequence
from typing import Literal

import dagster as dg
from pydantic import Field

from lume_assets.automation.approval import (
    Approval,
    ApprovalStore,
    decide,
    store_publisher,
)
from lume_assets.io_managers.results import ResultStoreResource

APPROVAL_JOB_NAME = "approve_results"


class ApprovalsResource(dg.ConfigurableResource):
    """The approvals table in the registry database."""

    url: str | None = Field(
        default=None, description="Registry SQLAlchemy URL; default LUME_REGISTRY_URL or SQLite."
    )

    def get_store(self) -> ApprovalStore:
        """Open the approval store."""
        return ApprovalStore(self.url)


def gate_partition(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> str | None:
    """Return the partition key (or 'first...last' range) the gated step ran for."""
    if context.has_partition_key_range:
        keys = context.partition_key_range
        return keys.start if keys.start == keys.end else f"{keys.start}...{keys.end}"
    return None


def hold_for_approval(
    context: dg.AssetExecutionContext,
    approvals: ApprovalStore,
    result_hashes: Sequence[str],
    *,
    gate: str,
    model: str = "",
) -> Approval:
    """Record that this run's results wait (unpublished) for approval and say how to approve."""
    run_id = context.run.run_id
    approval = approvals.request(
        gate,
        run_id,
        partition_key=gate_partition(context),
        model=model,
        results=result_hashes,
        requested_by=f"run {run_id}",
    )
    context.log.info(
        f"{gate}: {len(result_hashes)} result(s) held for approval #{approval.id}. Approve with "
        f"`lume-assets approve {run_id}` or launch the '{APPROVAL_JOB_NAME}' job; "
        f"reject with `lume-assets reject {run_id} --reason ...`."
    )
    return approval


def approval_metadata(approval: Approval) -> dict[str, dg.MetadataValue]:
    """Materialization metadata telling Dagit users the result waits for approval."""
    return {
        "approval_id": dg.MetadataValue.int(approval.id),
        "approval_status": dg.MetadataValue.text(approval.status.value),
        "approve_with": dg.MetadataValue.text(f"lume-assets approve {approval.run_id}"),
    }


class ApprovalDecision(dg.Config):
    """Launchpad config of the approve_results job."""

    target: str = Field(description="Run id, gated asset key (e.g. 'beam/envelope') or #id.")
    decision: Literal["approve", "reject"] = Field(default="approve")
    by: str = Field(description="Who decides (recorded with the time).")
    reason: str = Field(default="", description="Why, when rejecting.")
    all_pending: bool = Field(default=False, description="Decide every pending run of a gate.")


@dg.op(
    name="decide_approval",
    description="Approve (and publish) or reject results held at an approval gate.",
)
def decide_approval(
    context: dg.OpExecutionContext,
    config: ApprovalDecision,
    approvals: ApprovalsResource,
    result_store: ResultStoreResource,
) -> None:
    """Record the decision; on approval publish the held results in the result store."""
    store = approvals.get_store()
    publish = None
    if config.decision == "approve":
        publish = store_publisher(result_store.get_store())
    done = decide(
        store,
        config.target,
        config.decision,
        config.by,
        reason=config.reason,
        publish=publish,
        every=config.all_pending,
    )
    for approval in done:
        context.log.info(approval.describe())
        context.log_event(
            dg.AssetObservation(
                asset_key=dg.AssetKey.from_user_string(approval.gate),
                partition=None,
                metadata={
                    "approval_id": approval.id,
                    "approval_status": approval.status.value,
                    "decided_by": approval.decided_by or "",
                    "decided_at": approval.decided_at.isoformat() if approval.decided_at else "",
                    "reason": approval.reason or "",
                    "run_id": approval.run_id,
                    "results": len(approval.results),
                },
            )
        )


@dg.job(name=APPROVAL_JOB_NAME, description="Approve or reject results held at a gate.")
def approve_results_job() -> None:
    """Launch from Dagit's launchpad with the target, the decision and your name."""
    decide_approval()
