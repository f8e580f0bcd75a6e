"""`lume-assets launch`: the demo job through the instance's coordinator and launcher."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from click.testing import CliRunner

from lume_assets.cli import cli, main
from tests.deploy.conftest import REPO_ROOT

WORKSPACE = str(REPO_ROOT / "workspace.yaml")


def write_instance(coordinator: str) -> None:
    """Write the repo's dagster.yaml into DAGSTER_HOME, with `coordinator` as run coordinator."""
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    if coordinator == "default":
        config["run_coordinator"] = {
            "module": "dagster._core.run_coordinator",
            "class": "DefaultRunCoordinator",
        }
    home = Path(os.environ["DAGSTER_HOME"])
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


def test_launch_queues_the_demo_for_the_daemon(lume_home: Path) -> None:
    """With the shipped queued coordinator the run waits in the queue for dagster-daemon."""
    write_instance("queued")
    result = CliRunner().invoke(cli, ["launch", "-w", WORKSPACE], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run_id = result.output.split()[1]
    assert result.output.strip().endswith("QUEUED")
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.QUEUED
        assert run.job_name == "demo_job"


def test_launch_wait_runs_the_demo_to_success(lume_home: Path) -> None:
    """Launched straight away (DefaultRunLauncher) and waited for, the demo succeeds."""
    write_instance("default")
    result = CliRunner().invoke(
        cli, ["launch", "-w", WORKSPACE, "--wait", "--timeout", "120"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("SUCCESS")
    run_id = result.output.strip().split()[-2]
    with dg.DagsterInstance.get() as instance:
        keys = instance.get_run_by_id(run_id).asset_selection or set()
        materialized = {
            r.dagster_event.asset_key
            for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        }
        assert materialized and keys <= materialized


def test_launch_of_an_unknown_job_exits_2_with_a_message(
    lume_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job that does not exist is a one-line error, not a traceback."""
    write_instance("queued")
    monkeypatch.setattr(sys, "argv", ["lume-assets", "launch", "-w", WORKSPACE, "--job", "nope"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert "No job 'nope' in code location 'lume_assets'" in capsys.readouterr().err
