"""Shared fixtures: isolated LUME home, real MongoDB-protocol and PostgreSQL servers."""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lume_assets.settings import LumeSettings, get_settings
from tests.dagit_server import DagitServer
from tests.servers import MongoServer, PostgresServer
from tests.slurm_cluster import SlurmCluster, slurm_available

#: Under pytest-xdist (`scripts/test` runs `-n 2`) tests are handed out by scope: a module's tests
#: stay together on one worker, in file order (some build on a module fixture's earlier run);
#: every test of tests/deploy (one dockerd, one Slurm cluster) and every module using the
#: session Dagit share one scope each, so the suite starts each of those servers once, not once
#: per worker (a second dockerd would wait for the first one's data-root lock).
SHARED_DAGIT = re.compile(r"def \w+\([^)]*\bdagit\b")


@functools.cache
def _uses_dagit(path: Path) -> bool:
    """Whether a test module asks for the session Dagit in a test or fixture signature."""
    try:
        return bool(SHARED_DAGIT.search(path.read_text()))
    except OSError:
        return False


def xdist_scope(rootdir: Path, nodeid: str) -> str:
    """The scheduling scope of a test: its shared server's, else its module."""
    module = nodeid.split("::", 1)[0]
    if module.startswith("tests/deploy/"):
        return "deploy"
    return "dagit" if _uses_dagit(rootdir / module) else module


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Hand out whole scopes (see `xdist_scope`); pytest 9 ignores xdist_group's id suffix."""
    from xdist.scheduler import LoadScopeScheduling

    class SharedServerScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(config.rootpath, nodeid)

    return SharedServerScheduling(config, log)


@pytest.fixture
def lume_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point LUME_HOME and DAGSTER_HOME at fresh temp dirs for one test."""
    home = tmp_path / "lume_home"
    home.mkdir()
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    monkeypatch.setenv("LUME_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    for var in [k for k in os.environ if k.startswith("LUME_") and k != "LUME_HOME"]:
        if not var.startswith("LUME_TEST_"):
            monkeypatch.delenv(var)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def lume_settings(lume_home: Path) -> LumeSettings:
    """Settings resolved from the isolated LUME home."""
    return get_settings()


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    """A MongoDB URI: $LUME_TEST_MONGO_URI if set, else a fresh nx-27017 on a free port."""
    external = os.environ.get("LUME_TEST_MONGO_URI")
    if external:
        yield external
        return
    server = MongoServer.start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL cluster started for this test session and stopped by its PID."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A real one-node Slurm cluster (munged, slurmctld, slurmd) stopped by PID at the end."""
    problem = slurm_available()
    if problem:
        raise RuntimeError(f"Slurm test cluster: {problem}")
    cluster = SlurmCluster.start(tmp_path_factory.mktemp("slurm"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL of a fresh database on the session's PostgreSQL server."""
    return postgres_server.database_url("lume_test")


@pytest.fixture(scope="session")
def dagit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagitServer]:
    """One real `lume-assets dev` (webserver + daemon) per session on a free loopback port."""
    server = DagitServer.start(tmp_path_factory.mktemp("dagit"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dagit_backfill(dagit: DagitServer) -> Iterator[dict]:
    """A remote `LumeClient.backfill` of one demo scan partition, run in a thread.

    The daemon's backfill loop ticks every 30 s, so the first test using the session's Dagit
    starts it and tests/client/test_remote_client.py joins it: the wait overlaps other tests.
    """
    from lume_assets.client import LumeClient

    outcome: dict = {"progress": []}

    def work() -> None:
        client = LumeClient(dagit.url, results_url=dagit.results_url)
        try:
            outcome["info"] = client.backfill(
                "envelope_scan",
                ["2.20"],
                timeout=540,
                progress=lambda done, total: outcome["progress"].append((done, total)),
            )
        except Exception as exc:  # reported by the test that joins the thread
            outcome["error"] = exc

    outcome["thread"] = threading.Thread(target=work, daemon=True)
    outcome["thread"].start()
    yield outcome
    outcome["thread"].join(timeout=600)
