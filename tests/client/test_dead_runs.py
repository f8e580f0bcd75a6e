"""A run whose process is killed with SIGKILL is failed, never waited on forever.

A real `LumeClient` process runs a model that sleeps; it is killed with SIGKILL while the
run is STARTED. Then `lume-assets status RUN --wait` (a real subprocess) must end at once with
FAILURE, and the daemon's health check (the LocalRunLauncher of the instance's dagster.yaml)
must report the worker as failed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus

from tests.dagit_server import lume_assets_exe, project_env

#: A process that starts a run of a sleeping model in-process and waits for it.
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import dagster as dg
    from lume_assets.assets.model_assets import model_asset
    from lume_assets.client import LumeClient
    from lume_assets.serving import build_resources
    from lume_assets.models.model import ModelSpec
    from lume_assets.models.variables import ScalarVariable

    def sleepy(k: float) -> dict:
        Path(sys.argv[1]).write_text("running")
        time.sleep(300)
        return {"y": k}

    spec = ModelSpec(
        name="sleepy", version="1", function=sleepy,
        inputs=[ScalarVariable(name="k", default=1.0)], outputs=[ScalarVariable(name="y")],
    )
    defs = dg.Definitions(assets=[model_asset(spec)], resources=build_resources())
    with LumeClient(definitions=defs, models=[spec]) as client:
        run_id = client.submit("sleepy", {"k": 2.0})
        print(run_id, flush=True)
        client.wait(run_id)
    """
)


def test_a_sigkilled_run_is_failed_and_status_wait_returns(tmp_path: Path) -> None:
    env = project_env(tmp_path / "lume", tmp_path / "dagster")
    marker = tmp_path / "model-is-running"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(marker)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        deadline = time.monotonic() + 600  # a real condition: the model runs
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the model never started"
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
        with dg.DagsterInstance.get() as instance:  # the dagster.yaml the client created
            run = instance.get_run_by_id(run_id)
            assert run is not None and run.status == dg.DagsterRunStatus.STARTED
            assert instance.run_monitoring_enabled
            health = instance.run_launcher.check_run_worker_health(run)
            assert health.status == WorkerStatus.FAILED and str(child.pid) in health.msg

    waited = subprocess.run(
        [lume_assets_exe(), "status", run_id, "--wait"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # without dead-run detection this waits forever
    )
    assert waited.returncode == 1, waited.stderr
    assert f"run {run_id}: FAILURE" in waited.stdout
    assert f"pid {child.pid}" in waited.stdout and "ended before the run finished" in waited.stdout
