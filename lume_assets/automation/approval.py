"""Approval gates: a result waits unpublished until a person approves (or rejects) it.

Approvals live in the registry database (table ``lume_approvals``, declared on the registry's
SQLAlchemy base, same URL as the model registry). One approval per (gate, run, partition):
requesting it again is a no-op.
The state machine is ``pending → approved`` or ``pending → rejected``; repeating the same
decision is idempotent (approving again re-publishes, which is itself idempotent), the opposite
decision is refused with an ApprovalError naming who decided what and when.

Decisions are also recorded per result hash, once (table ``lume_result_decisions``): gates
that share results agree. Approving publishes only hashes not rejected before; rejecting never
unpublishes a hash approved before (approvals are monotone); each decision's `note` says what
happened to the shared hashes. Only `approve(..., override=True)` — an explicit new decision —
publishes hashes another gate rejected.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from lume_assets.errors import ApprovalError, ConfigError
from lume_assets.models.registry import RegistryBase, registry_engine_url
from lume_assets.settings import get_settings
from lume_assets.storage.urls import mask_url

Publisher = Callable[[Sequence[str]], int]
"""Publishes the results with these inputs hashes; returns how many were published."""


class ApprovalStatus(enum.StrEnum):
    """Where an approval stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ApprovalRow(RegistryBase):
    """One approval gate crossing: a run's output at a gate, waiting for a decision."""

    __tablename__ = "lume_approvals"
    __table_args__ = (sa.UniqueConstraint("gate", "run_id", "partition_key", name="uq_approval"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    gate: Mapped[str] = mapped_column(sa.String(255), index=True)
    run_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    partition_key: Mapped[str] = mapped_column(sa.String(255), default="")
    model: Mapped[str] = mapped_column(sa.String(255), default="")
    results: Mapped[str] = mapped_column(sa.Text, default="[]")
    status: Mapped[str] = mapped_column(sa.String(16), default=ApprovalStatus.PENDING.value)
    requested_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    requested_by: Mapped[str] = mapped_column(sa.String(255), default="")
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


class DecisionRow(RegistryBase):
    """The decision on one result hash, recorded once (the first approval deciding it)."""

    __tablename__ = "lume_result_decisions"

    inputs_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    approval_id: Mapped[int] = mapped_column(sa.Integer)
    decided_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    decided_by: Mapped[str] = mapped_column(sa.String(255))


class Approval(BaseModel):
    """A read-only view of one approval."""

    model_config = ConfigDict(frozen=True)

    id: int
    gate: str
    run_id: str
    partition_key: str | None
    model: str
    results: tuple[str, ...]
    status: ApprovalStatus
    requested_at: datetime
    requested_by: str
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None
    note: str = ""  # what this decision did to results shared with other gates (not stored)

    @classmethod
    def from_row(cls, row: ApprovalRow) -> Approval:
        """Build the view from a table row."""
        return cls(
            id=row.id,
            gate=row.gate,
            run_id=row.run_id,
            partition_key=row.partition_key or None,
            model=row.model,
            results=tuple(json.loads(row.results)),
            status=ApprovalStatus(row.status),
            requested_at=_aware(row.requested_at),
            requested_by=row.requested_by,
            decided_at=_aware(row.decided_at) if row.decided_at else None,
            decided_by=row.decided_by,
            reason=row.reason,
        )

    def describe(self) -> str:
        """One line for the CLI and logs."""
        where = f"{self.gate}" + (f"[{self.partition_key}]" if self.partition_key else "")
        line = f"#{self.id} {where} run {self.run_id[:8]} {self.status.value}"
        if self.decided_by:
            line += f" by {self.decided_by} at {self.decided_at:%Y-%m-%d %H:%M:%S %Z}"
        if self.reason:
            line += f": {self.reason}"
        if self.note:
            line += f" ({self.note})"
        return line


def _aware(moment: datetime) -> datetime:
    """SQLite drops tzinfo: treat naive stored times as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _now() -> datetime:
    """The current UTC time."""
    return datetime.now(UTC)


def _make_engine(url: str) -> sa.Engine:
    """Create an engine for `url` (+ LUME_REGISTRY_PASSWORD), creating a SQLite folder if needed."""
    url = registry_engine_url(url)
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(f"Registry URL {mask_url(url)!r} is not a SQLAlchemy URL.") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url, future=True, pool_pre_ping=True)


class ApprovalStore:
    """Approvals in the registry database: request, approve, reject, list."""

    def __init__(self, url: str | None = None, engine: sa.Engine | None = None) -> None:
        """Open (and create the table in) the registry DB; default the settings' registry URL."""
        self.url = url or get_settings().resolved_registry_url()
        self.engine = engine or _make_engine(self.url)
        try:
            RegistryBase.metadata.create_all(
                self.engine, tables=[ApprovalRow.__table__, DecisionRow.__table__]
            )
        except SQLAlchemyError as exc:
            raise ApprovalError(
                f"Cannot open the approvals table in the registry database "
                f"{make_url(self.url).render_as_string(hide_password=True)}: {exc.orig or exc}"
            ) from None

    # -- requests ------------------------------------------------------------------------------
    def request(
        self,
        gate: str,
        run_id: str,
        *,
        partition_key: str | None = None,
        model: str = "",
        results: Iterable[str] = (),
        requested_by: str = "",
    ) -> Approval:
        """Open an approval for `run_id` at `gate` (idempotent: returns the existing one)."""
        if not gate or not run_id:
            raise ApprovalError("An approval needs a gate name and a run id.")
        hashes = list(dict.fromkeys(results))
        with Session(self.engine) as session:
            row = ApprovalRow(
                gate=gate,
                run_id=run_id,
                partition_key=partition_key or "",
                model=model,
                results=json.dumps(hashes),
                status=ApprovalStatus.PENDING.value,
                requested_at=_now(),
                requested_by=requested_by,
            )
            session.add(row)
            try:
                session.commit()
                return Approval.from_row(row)
            except IntegrityError:
                session.rollback()
        existing = self._find_row(gate, run_id, partition_key)
        if existing.status == ApprovalStatus.PENDING and hashes:
            merged = list(dict.fromkeys([*existing.results, *hashes]))
            if merged != list(existing.results):
                with Session(self.engine) as session:
                    session.execute(
                        sa.update(ApprovalRow)
                        .where(ApprovalRow.id == existing.id)
                        .values(results=json.dumps(merged))
                    )
                    session.commit()
                return self.get(existing.id)
        return existing

    def _find_row(self, gate: str, run_id: str, partition_key: str | None) -> Approval:
        """Return the approval for (gate, run, partition)."""
        with Session(self.engine) as session:
            row = session.scalars(
                sa.select(ApprovalRow).where(
                    ApprovalRow.gate == gate,
                    ApprovalRow.run_id == run_id,
                    ApprovalRow.partition_key == (partition_key or ""),
                )
            ).one()
            return Approval.from_row(row)

    # -- reads ---------------------------------------------------------------------------------
    def get(self, approval_id: int) -> Approval:
        """Return one approval by id, or raise ApprovalError."""
        with Session(self.engine) as session:
            row = session.get(ApprovalRow, approval_id)
            if row is None:
                raise ApprovalError(
                    f"No approval #{approval_id}; list them with `lume-assets approvals`."
                )
            return Approval.from_row(row)

    def list(
        self,
        *,
        gate: str | None = None,
        run_id: str | None = None,
        status: ApprovalStatus | str | None = None,
    ) -> list[Approval]:
        """Return approvals, oldest first, filtered by gate, run and/or status."""
        query = sa.select(ApprovalRow).order_by(ApprovalRow.id)
        if gate is not None:
            query = query.where(ApprovalRow.gate == gate)
        if run_id is not None:
            query = query.where(ApprovalRow.run_id == run_id)
        if status is not None:
            query = query.where(ApprovalRow.status == ApprovalStatus(status).value)
        with Session(self.engine) as session:
            return [Approval.from_row(r) for r in session.scalars(query)]

    def is_approved(self, gate: str, run_id: str, partition_key: str | None = None) -> bool:
        """Return whether the output of `run_id` at `gate` was approved."""
        try:
            found = self._find_row(gate, run_id, partition_key)
        except sa.exc.NoResultFound:
            return False
        return found.status == ApprovalStatus.APPROVED

    def resolve(self, target: str) -> list[Approval]:
        """Return the approvals a CLI target names: an approval id (#N), a run id, or a gate."""
        if target.lstrip("#").isdigit():
            return [self.get(int(target.lstrip("#")))]
        by_run = self.list(run_id=target)
        if by_run:
            return by_run
        if len(target) >= 8:  # a run id prefix, as Dagit shows it
            with Session(self.engine) as session:
                rows = session.scalars(
                    sa.select(ApprovalRow)
                    .where(ApprovalRow.run_id.startswith(target, autoescape=True))
                    .order_by(ApprovalRow.id)
                ).all()
                if rows:
                    return [Approval.from_row(r) for r in rows]
        by_gate = self.list(gate=target)
        if by_gate:
            return by_gate
        known = sorted({a.gate for a in self.list()})
        raise ApprovalError(
            f"No approval gate, run or approval id {target!r}. Known gates: "
            f"{', '.join(known) or 'none yet (no gated run has reached its gate)'}."
        )

    # -- decisions -----------------------------------------------------------------------------
    def _decide(
        self, approval_id: int, status: ApprovalStatus, by: str, reason: str | None
    ) -> tuple[Approval, bool]:
        """Record a decision once; return (approval, whether this call made the decision)."""
        if not by or not by.strip():
            raise ApprovalError("Say who decides: pass the approver's name (--by NAME).")
        with Session(self.engine) as session:
            changed = session.execute(
                sa.update(ApprovalRow)
                .where(
                    ApprovalRow.id == approval_id,
                    ApprovalRow.status == ApprovalStatus.PENDING.value,
                )
                .values(status=status.value, decided_by=by, decided_at=_now(), reason=reason)
            ).rowcount
            session.commit()
        current = self.get(approval_id)
        if changed:
            return current, True
        if current.status == status:
            return current, False
        raise ApprovalError(
            f"Approval #{approval_id} ({current.gate}, run {current.run_id}) was already "
            f"{current.status.value} by {current.decided_by} at {current.decided_at:%Y-%m-%d %H:%M}"
            f"{': ' + current.reason if current.reason else ''}; it cannot now be {status.value}."
        )

    def _record_hashes(
        self, approval: Approval, status: ApprovalStatus, override: bool = False
    ) -> dict[str, tuple[str, int]]:
        """Record `status` for the approval's hashes not decided yet (every hash if
        `override`); return {hash: (status, deciding approval id)} after the write."""
        hashes = list(approval.results)
        found: dict[str, tuple[str, int]] = {}
        with Session(self.engine) as session:
            for start in range(0, len(hashes), 500):
                part = hashes[start : start + 500]
                rows = session.execute(
                    sa.select(
                        DecisionRow.inputs_hash, DecisionRow.status, DecisionRow.approval_id
                    ).where(DecisionRow.inputs_hash.in_(part))
                ).all()
                found.update({h: (st, aid) for h, st, aid in rows})
            fresh = [h for h in hashes if h not in found]
            redo = [h for h in hashes if override and h in found and found[h][0] != status]
            values = {
                "status": status.value,
                "approval_id": approval.id,
                "decided_at": approval.decided_at or _now(),
                "decided_by": approval.decided_by or "",
            }
            if fresh:
                session.execute(
                    sa.insert(DecisionRow), [{"inputs_hash": h, **values} for h in fresh]
                )
            for start in range(0, len(redo), 500):
                session.execute(
                    sa.update(DecisionRow)
                    .where(DecisionRow.inputs_hash.in_(redo[start : start + 500]))
                    .values(**values)
                )
            session.commit()
        for h in [*fresh, *redo]:
            found[h] = (status.value, approval.id)
        return found

    def approve(
        self,
        approval_id: int,
        by: str,
        publish: Publisher | None = None,
        *,
        override: bool = False,
    ) -> Approval:
        """Approve (who, when) and publish the held results not rejected by another gate
        (`override=True` publishes those too); idempotent for a repeat approval."""
        approval, _ = self._decide(approval_id, ApprovalStatus.APPROVED, by, None)
        decided = self._record_hashes(approval, ApprovalStatus.APPROVED, override)
        ok = {h for h in approval.results if decided[h][0] == ApprovalStatus.APPROVED.value}
        vetoed = sorted({decided[h][1] for h in approval.results if h not in ok})
        rejected = len(approval.results) - len(ok)
        if publish is not None and ok:
            publish([h for h in approval.results if h in ok])
        note = f"{len(ok)} result(s) published"
        if rejected:
            note += (
                f"; {rejected} stay unpublished: rejected by "
                + ", ".join(f"#{i}" for i in vetoed)
                + " (approve again with --override to publish them)"
            )
        return approval.model_copy(update={"note": note})

    def reject(self, approval_id: int, by: str, reason: str) -> Approval:
        """Reject (who, when, why); the held results stay unpublished, and results another
        gate approved before stay published (approvals are monotone)."""
        if not reason or not reason.strip():
            raise ApprovalError("Say why the result is rejected: pass a reason (--reason TEXT).")
        approval, _ = self._decide(approval_id, ApprovalStatus.REJECTED, by, reason.strip())
        decided = self._record_hashes(approval, ApprovalStatus.REJECTED)
        kept = [h for h in approval.results if decided[h][0] == ApprovalStatus.APPROVED.value]
        note = f"{len(approval.results) - len(kept)} result(s) rejected"
        if kept:
            earlier = sorted({decided[h][1] for h in kept})
            note += (
                f"; {len(kept)} already approved by "
                + ", ".join(f"#{i}" for i in earlier)
                + " stay published"
            )
        return approval.model_copy(update={"note": note})

    def decision_of(self, inputs_hash: str) -> str | None:
        """Return the decision recorded for one result hash ('approved'/'rejected'), if any."""
        with Session(self.engine) as session:
            row = session.get(DecisionRow, inputs_hash)
            return None if row is None else row.status

    def dispose(self) -> None:
        """Close the store's database connections."""
        self.engine.dispose()


def decide(
    store: ApprovalStore,
    target: str,
    decision: str,
    by: str,
    *,
    reason: str = "",
    publish: Publisher | None = None,
    every: bool = False,
    override: bool = False,
) -> list[Approval]:
    """Approve or reject what `target` names (approval #id, run id, or gate) — CLI and job."""
    if decision not in ("approve", "reject"):
        raise ApprovalError(f"Decision must be 'approve' or 'reject', not {decision!r}.")
    found = store.resolve(target)
    by_gate = not target.lstrip("#").isdigit() and all(a.run_id != target for a in found)
    by_gate = by_gate and all(a.gate == target for a in found)
    chosen = [a for a in found if a.status == ApprovalStatus.PENDING] if by_gate else found
    if by_gate and not chosen:
        raise ApprovalError(
            f"Gate {target!r} has no pending approval: "
            + "; ".join(a.describe() for a in found[-5:])
        )
    if by_gate and len(chosen) > 1 and not every:
        raise ApprovalError(
            f"Gate {target!r} has {len(chosen)} pending approvals: "
            + "; ".join(a.describe() for a in chosen[:10])
            + ". Name one by run id or #id, or pass --all to decide them all."
        )
    if decision == "approve":
        return [store.approve(a.id, by=by, publish=publish, override=override) for a in chosen]
    return [store.reject(a.id, by=by, reason=reason) for a in chosen]


def store_publisher(result_store: object) -> Publisher:
    """Return a Publisher that marks results published in `result_store` (a ResultStore)."""

    def _publish(hashes: Sequence[str]) -> int:
        found = result_store.publish_many(hashes, published=True)  # type: ignore[attr-defined]
        if found != len(set(hashes)):
            raise ApprovalError(
                f"Only {found} of the {len(set(hashes))} held results are in the result store "
                f"{getattr(result_store, 'location', '')}; was it cleared or is LUME_RESULTS_URL "
                "pointing elsewhere? The approval is recorded; re-run approve once they are back."
            )
        return found

    return _publish


def settings_result_store() -> object:
    """Open the result store the settings configure (LUME_RESULTS_URL, project, files root)."""
    from lume_assets.storage.result_stores import open_result_store

    settings = get_settings()
    return open_result_store(
        settings.resolved_results_url(),
        project=settings.project,
        files_root=settings.resolved_files_root(),
    )
