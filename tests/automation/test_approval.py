"""The approval state machine on SQLite and on a real PostgreSQL server."""

from pathlib import Path

import pytest
import sqlalchemy as sa

from lume_assets.automation.approval import ApprovalRow, ApprovalStatus, ApprovalStore
from lume_assets.errors import ApprovalError


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    approvals = ApprovalStore(url)
    with approvals.engine.begin() as conn:  # the session's PostgreSQL DB is shared
        conn.execute(sa.delete(ApprovalRow))
    yield approvals
    approvals.dispose()


def test_request_is_idempotent_and_merges_new_results(store):
    first = store.request("beam/envelope", "run-1", model="beam", results=["h1"], requested_by="x")
    again = store.request("beam/envelope", "run-1", results=["h1", "h2"])
    assert again.id == first.id
    assert again.results == ("h1", "h2")
    assert again.status is ApprovalStatus.PENDING
    other = store.request("beam/envelope", "run-1", partition_key="p1")
    assert other.id != first.id and other.partition_key == "p1"
    assert len(store.list(gate="beam/envelope")) == 2


def test_approve_records_who_and_when_and_publishes_once_per_call(store):
    a = store.request("beam/envelope", "run-1", results=["h1", "h2"])
    published: list[list[str]] = []
    done = store.approve(a.id, by="alice", publish=lambda hashes: published.append(hashes) or 2)
    assert done.status is ApprovalStatus.APPROVED
    assert done.decided_by == "alice" and done.decided_at is not None
    assert done.decided_at.tzinfo is not None
    assert published == [["h1", "h2"]]
    assert store.is_approved("beam/envelope", "run-1")
    # repeating the same decision is a no-op on the record (publishing is idempotent)
    again = store.approve(a.id, by="bob", publish=lambda hashes: published.append(hashes) or 0)
    assert again.decided_by == "alice" and again.decided_at == done.decided_at


def test_reject_records_why_and_the_opposite_decision_is_refused(store):
    a = store.request("surrogate/check", "run-2", results=["h9"])
    rejected = store.reject(a.id, by="carol", reason="loss above tolerance")
    assert rejected.status is ApprovalStatus.REJECTED
    assert rejected.reason == "loss above tolerance" and rejected.decided_by == "carol"
    assert not store.is_approved("surrogate/check", "run-2")
    with pytest.raises(ApprovalError, match="already rejected by carol.*loss above tolerance"):
        store.approve(a.id, by="dave", publish=lambda hashes: pytest.fail("must not publish"))
    b = store.request("surrogate/check", "run-3")
    store.approve(b.id, by="dave")
    with pytest.raises(ApprovalError, match="already approved by dave"):
        store.reject(b.id, by="erin", reason="late doubt")


def test_clear_errors_for_unknown_targets_and_missing_fields(store):
    with pytest.raises(ApprovalError, match="No approval gate, run or approval id 'nope'"):
        store.resolve("nope")
    with pytest.raises(ApprovalError, match="No approval #999"):
        store.approve(999, by="alice")
    a = store.request("beam/envelope", "0123456789abcdef")
    with pytest.raises(ApprovalError, match="pass a reason"):
        store.reject(a.id, by="alice", reason=" ")
    with pytest.raises(ApprovalError, match="--by NAME"):
        store.approve(a.id, by="")
    with pytest.raises(ApprovalError, match="Known gates: beam/envelope"):
        store.resolve("other-gate")


def test_resolve_by_id_run_prefix_and_gate(store):
    a = store.request("g1", "0123456789abcdef")
    b = store.request("g2", "fedcba9876543210")
    assert [x.id for x in store.resolve(f"#{a.id}")] == [a.id]
    assert [x.id for x in store.resolve("0123456789abcdef")] == [a.id]
    assert [x.id for x in store.resolve("fedcba98")] == [b.id]
    assert [x.id for x in store.resolve("g2")] == [b.id]
    assert store.list(status="pending") == store.list()


def test_approvals_survive_reopening_the_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'sub' / 'registry.db'}"
    first = ApprovalStore(url)
    a = first.request("g", "run-1")
    first.approve(a.id, by="alice")
    first.dispose()
    reopened = ApprovalStore(url)
    assert reopened.get(a.id).decided_by == "alice"
    assert "approved by alice" in reopened.get(a.id).describe()


def test_approvals_share_the_registry_database(tmp_path):
    from lume_assets.models.registry import ModelRegistry

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    registry = ModelRegistry(url)
    registry.register_project("beams")
    approvals = ApprovalStore(url)
    approvals.request("beam/envelope", "run-1")
    tables = set(sa.inspect(approvals.engine).get_table_names())
    assert {"lume_approvals", "projects"} <= tables
    assert registry.get_project("beams").name == "beams"
    registry.close()
    approvals.dispose()
