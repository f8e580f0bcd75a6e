"""The approval gate seen from an asset: record that a run's results wait unpublished.

A gated builder (`model_asset(..., requires_approval=True)`, `scan_asset(...)`) stores its new
results with ``published=False`` and calls `hold_for_approval`, which records a pending approval
and tells the run log how to decide. Deciding (CLI, the `approve_results` job) is in
`lume_assets.automation.gate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported by whoever opens one, at run time
    from lume_assets.automation.approval import Approval, ApprovalStore

APPROVAL_JOB_NAME = "approve_results"


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
