"""`lume-assets approve / reject / approvals` on the settings' registry database."""

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lume_assets.automation.approval import ApprovalStatus, ApprovalStore
from lume_assets.cli import cli, main


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_reject_records_reason_and_lists(lume_home: Path):
    store = ApprovalStore()
    a = store.request("beam/envelope", "a1b2c3d4e5f60718", results=["h1"])
    out = run("reject", "a1b2c3d4", "--reason", "emittance too high", "--by", "carol")
    assert out.exit_code == 0, out.output
    assert "rejected by carol" in out.output and "emittance too high" in out.output
    got = store.get(a.id)
    assert got.status is ApprovalStatus.REJECTED and got.reason == "emittance too high"
    listed = run("approvals", "--status", "rejected")
    assert f"#{a.id} beam/envelope" in listed.output
    assert (lume_home / "registry.db").exists()


def test_unknown_target_is_a_one_line_error_with_exit_code_2(
    lume_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    ApprovalStore().request("beam/envelope", "r1")
    monkeypatch.setattr(sys, "argv", ["lume-assets", "reject", "nope", "--reason", "x"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "No approval gate, run or approval id 'nope'" in err and "beam/envelope" in err


def test_gate_with_several_pending_runs_needs_all(lume_home: Path):
    store = ApprovalStore()
    store.request("g", "run-one-0000")
    store.request("g", "run-two-0000")
    result = CliRunner().invoke(cli, ["reject", "g", "--reason", "bad batch"])
    assert "2 pending approvals" in str(result.exception)
    ok = run("reject", "g", "--reason", "bad batch", "--all", "--by", "eve")
    assert ok.output.count("rejected by eve") == 2
