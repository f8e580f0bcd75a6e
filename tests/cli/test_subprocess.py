"""Every `lume-assets` command once as a real subprocess of the installed entry point.

`models show`, `results` and `scan` run as subprocesses in tests/readme/ (the README's CLI block).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests

from lume_assets.automation.approval import ApprovalStore
from tests.dagit_server import ROOT, DagitServer, lume_assets_exe, project_env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of a fresh LUME_HOME and DAGSTER_HOME for the subprocesses."""
    base = tmp_path_factory.mktemp("cli")
    (base / "lume").mkdir()
    (base / "dagster").mkdir()
    return project_env(base / "lume", base / "dagster")


def lume(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `lume-assets ARGS` and return the finished process."""
    return subprocess.run(
        [lume_assets_exe(), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_help_and_models(env: dict[str, str]) -> None:
    top = lume(env, "--help")
    assert top.returncode == 0
    for command in ("demo", "dev", "models", "run", "results", "scan", "status", "approve"):
        assert f"  {command}" in top.stdout
    listed = lume(env, "models", "list")
    assert "beam_envelope" in listed.stdout
    registered = lume(env, "models", "register")
    assert registered.returncode == 0 and "beam_envelope" in registered.stdout


def test_run_status_and_bad_input(env: dict[str, str]) -> None:
    ran = lume(env, "run", "beam_envelope", "-i", "k_f=2.25", "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    status = lume(env, "status", result["provenance"]["run_id"])
    assert status.returncode == 0 and "SUCCESS" in status.stdout
    bad = lume(env, "run", "beam_envelope", "-i", "k_f=-1")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: input 'k_f' = -1 is outside its allowed range [0, 10] 1/m^2; "
        "give a value within the range."
    ]


def test_approve_and_approvals(env: dict[str, str]) -> None:
    approvals = ApprovalStore(f"sqlite:///{Path(env['LUME_HOME']) / 'registry.db'}")
    try:
        approvals.request("beam_envelope/result", "0123456789abcdef", results=[])
    finally:
        approvals.dispose()
    approved = lume(env, "approve", "0123456789abcdef", "--by", "ada")
    assert approved.returncode == 0, approved.stderr
    assert "approved by ada" in approved.stdout
    listed = lume(env, "approvals", "--status", "approved")
    assert "beam_envelope/result run 01234567 approved by ada" in listed.stdout
    rejected = lume(env, "reject", "0123456789abcdef", "--reason", "late", "--by", "bob")
    assert rejected.returncode == 2  # already approved: a one-line refusal
    assert rejected.stderr.count("\n") == 1 and "was already approved by ada" in rejected.stderr


def test_launch_of_an_unknown_job(env: dict[str, str]) -> None:
    workspace = str(ROOT / "workspace.yaml")
    launched = lume(env, "launch", "-w", workspace, "--job", "nope")
    assert launched.returncode == 2
    assert "No job 'nope' in code location 'lume_assets'" in launched.stderr


def test_demo(env: dict[str, str]) -> None:
    demo = lume(env, "demo", timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert "succeeded" in demo.stdout and env["LUME_HOME"] in demo.stdout


def test_dev_serves_dagit(dagit: DagitServer, dagit_backfill: dict) -> None:
    """The session's Dagit *is* `lume-assets dev` run as a subprocess (tests/dagit_server.py).

    Its daemon starts working on `dagit_backfill` now (checked in tests/client/).
    """
    assert dagit.proc.poll() is None
    page = requests.get(dagit.url, timeout=30)
    assert page.status_code == 200 and "Dagster" in page.text


def test_remote_run_and_status(dagit: DagitServer, env: dict[str, str]) -> None:
    remote = ["--remote", dagit.url]
    ran = lume(
        env,
        "run",
        "beam_envelope",
        "-i",
        "k_f=2.15",
        *remote,
        "--results-url",
        dagit.results_url,
        "--json",
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["inputs"]["k_f"] == 2.15
    bad = lume(env, "run", "beam_envelope", "-i", "k_f=oops", *remote)
    assert bad.returncode == 2  # refused before launching, in the words a local run uses
    assert bad.stderr.strip().splitlines() == [
        "error: input 'k_f' = 'oops' is not a number (got str); give a number in [0, 10] 1/m^2."
    ]
    status = lume(env, "status", json.loads(ran.stdout)["provenance"]["run_id"], *remote)
    assert status.returncode == 0 and "SUCCESS" in status.stdout
