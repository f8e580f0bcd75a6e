"""The approval gate in Dagster: hold a node's results unpublished, decide from the launchpad.

A gated asset stores its results with ``published=False`` and calls `hold_for_approval`
(`lume_assets.assets.approval_gate`), which records a pending approval and tells the run log how
to approve. The run ends at the gate. A person then approves or rejects with
``lume-assets approve <run or asset>`` or by launching the `approve_results` job from the Dagit
launchpad; approving publishes the held results, rejecting records why and keeps them unpublished.
"""

from typing import TYPE_CHECKING, Literal

import dagster as dg
from pydantic import Field

from lume_assets.assets.approval_gate import (
    APPROVAL_JOB_NAME,
    approval_metadata,
    gate_partition,
    hold_for_approval,
)
from lume_assets.io_managers.results import ResultStoreResource

if TYPE_CHECKING:  # SQLAlchemy is imported when a store is opened, not with the definitions
    from lume_assets.automation.approval import ApprovalStore


class ApprovalsResource(dg.ConfigurableResource):
    """The approvals table in the registry database."""

    url: str | None = Field(
        default=None, description="Registry SQLAlchemy URL; default LUME_REGISTRY_URL or SQLite."
    )

    def get_store(self) -> "ApprovalStore":
        """Open the approval store."""
        from lume_assets.automation.approval import ApprovalStore

        return ApprovalStore(self.url)


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
    from lume_assets.automation.approval import decide, store_publisher

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


__all__ = [
    "APPROVAL_JOB_NAME",
    "ApprovalDecision",
    "ApprovalsResource",
    "approval_metadata",
    "approve_results_job",
    "decide_approval",
    "gate_partition",
    "hold_for_approval",
]
