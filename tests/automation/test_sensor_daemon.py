"""The inbox sensor under Dagster's real sensor daemon: run keys, partitions, launched runs."""

import logging
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.sensor import execute_sensor_iteration

from lume_assets.automation.sensors import INPUT_FILE_TAG
from tests.automation.conftest import deliver


def tick(workspace) -> None:
    """One daemon iteration, spaced past the sensor's 1 s minimum interval."""
    time.sleep(1.1)
    list(execute_sensor_iteration(workspace, logging.getLogger("test"), None, None))


def test_daemon_launches_each_file_once_and_a_changed_file_again(
    inbox: Path, lume_home: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LUME_INBOX_DIR", str(inbox))
    overrides = {
        "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"}
    }
    target = ModuleTarget(
        module_name="tests.automation.daemon_defs",
        attribute="defs",
        working_directory=str(Path(__file__).parents[2]),
        location_name="automation_test",
    )
    with (
        dg.instance_for_test(overrides=overrides) as instance,
        create_test_daemon_workspace_context(target, instance) as workspace,
    ):
        deliver(inbox, "a.json", {"energy": 1.0})
        deliver(inbox, "b.yaml", "energy: 2\n")
        tick(workspace)
        runs = instance.get_runs()
        assert sorted(r.tags["dagster/partition"] for r in runs) == ["a.json", "b.yaml"]
        assert sorted(instance.get_dynamic_partitions("beam_inputs")) == ["a.json", "b.yaml"]
        [run_a] = [r for r in runs if r.tags["dagster/partition"] == "a.json"]
        assert run_a.tags[INPUT_FILE_TAG] == str(inbox / "a.json")
        assert run_a.run_config["ops"]["beam_eval"]["config"] == {"energy": 1.0, "charge": 1.0}

        deliver(inbox, "a.json", {"energy": 1.0})  # re-delivered, identical
        tick(workspace)
        assert len(instance.get_runs()) == 2  # the run key stopped it

        deliver(inbox, "a.json", {"energy": 5.0})  # changed
        tick(workspace)
        runs = instance.get_runs()
        assert len(runs) == 3
        assert runs[0].run_config["ops"]["beam_eval"]["config"]["energy"] == 5.0
