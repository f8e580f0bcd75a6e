"""A real Dagit for tests: `lume-assets dev` (dagster dev) on a free loopback port.

Started as a subprocess in its own process group with its own LUME_HOME and DAGSTER_HOME, and
stopped by that process group (SIGTERM, then SIGKILL if it lingers): dagster dev's webserver,
daemon and code server all live in it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
#: The Dagit command of the README (host 127.0.0.1 by default; port from LUME_DAGIT_PORT).
DEV_ARGS = ["dev"]
#: Immediate run launch (no queue): runs start as soon as the webserver receives them.
DAGSTER_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
"""


def lume_assets_exe() -> str:
    """The installed `lume-assets` entry point of this interpreter's environment."""
    exe = Path(sys.executable).with_name("lume-assets")
    if not exe.exists():
        raise RuntimeError(f"{exe} is missing; install the package (bash scripts/setup --dev)")
    return str(exe)


def project_env(lume_home: Path, dagster_home: Path) -> dict[str, str]:
    """Environment running this checkout's lume_assets on the given homes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUME_")}
    env.update(
        LUME_HOME=str(lume_home),
        DAGSTER_HOME=str(dagster_home),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def runs_in(env: dict[str, str]) -> int:
    """How many runs the instance at the environment's DAGSTER_HOME holds."""
    import dagster as dg

    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        return instance.get_runs_count()


LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUN_STATUS = "query S($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
REPO = (
    "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
)


def graphql(url: str, query: str, variables: dict | None = None, timeout: float = 120) -> dict:
    """POST a GraphQL document to a Dagit; return `data` (AssertionError on errors)."""
    body = requests.post(
        f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout
    ).json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


@dataclass
class DagitServer:
    """A running `lume-assets dev` and where it keeps its state."""

    url: str
    port: int
    proc: subprocess.Popen
    lume_home: Path
    dagster_home: Path
    log: Path

    @property
    def results_url(self) -> str:
        """The result store the server's runs write to."""
        return f"sqlite:///{self.lume_home / 'results.db'}"

    @classmethod
    def start(
        cls, base: Path, timeout: float = 300.0, env: dict[str, str] | None = None
    ) -> DagitServer:
        """Start `lume-assets dev` on a free port; return once the code location has loaded.

        `env` adds variables (e.g. LUME_RESULTS_URL) to the project environment.
        """
        lume_home, dagster_home = base / "lume_home", base / "dagster_home"
        lume_home.mkdir(parents=True, exist_ok=True)
        dagster_home.mkdir(parents=True, exist_ok=True)
        (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
        port = free_port()
        log = base / "dagit.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [lume_assets_exe(), *DEV_ARGS],  # exactly the README's `lume-assets dev`
                env={
                    **project_env(lume_home, dagster_home),
                    **(env or {}),
                    "LUME_DAGIT_PORT": str(port),
                },
                cwd=base,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
            )
        server = cls(f"http://127.0.0.1:{port}", port, proc, lume_home, dagster_home, log)
        try:
            server.wait_loaded(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def wait_loaded(self, timeout: float) -> None:
        """Block until GraphQL answers and lists the demo's model asset."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lume-assets dev exited: {self.log.read_text()[-3000:]}")
            try:
                left = max(1.0, deadline - time.monotonic())  # a loaded server answers slowly
                data = graphql(self.url, "{ assetNodes { assetKey { path } } }", timeout=left)
                if data["assetNodes"]:
                    return
            except (requests.RequestException, ValueError, AssertionError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise TimeoutError(f"Dagit at {self.url} not ready in {timeout} s ({last}); see {self.log}")

    def launch(
        self, assets: list[list[str]], config: dict | None = None, tags: dict | None = None
    ) -> str:
        """Launch a run of `assets` (key paths) through the location's asset job; its id."""
        (repo,) = graphql(self.url, REPO)["repositoriesOrError"]["nodes"]
        params = {
            "selector": {
                "repositoryLocationName": repo["location"]["name"],
                "repositoryName": repo["name"],
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": path} for path in assets],
            },
            "runConfigData": config or {},
            "executionMetadata": {
                "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]
            },
        }
        launched = graphql(self.url, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return launched["run"]["runId"]

    def finished(self, run_id: str, timeout: float = 600.0) -> str:
        """Wait for the run to end (or `timeout`: a real condition, generous on a loaded
        machine); return its status."""
        deadline = time.monotonic() + timeout
        status = ""
        while time.monotonic() < deadline and status not in ("SUCCESS", "FAILURE", "CANCELED"):
            time.sleep(0.5)
            status = graphql(self.url, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        return status

    def stop(self) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after 15 s."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group, if any
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
