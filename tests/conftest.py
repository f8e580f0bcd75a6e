"""Shared fixtures: isolated LUME home, real MongoDB-protocol and PostgreSQL servers."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lume_assets.settings import LumeSettings, get_settings
from tests.dagit_server import DagitServer
from tests.servers import MongoServer, PostgresServer
from tests.slurm_cluster import SlurmCluster, slurm_available

#: Session/module fixtures that are one expensive process (or one lock) per test process: under
#: pytest-xdist (`scripts/test` runs `-n 2 --dist loadgroup`) every test using one of them goes to
#: the same worker, so the suite starts one Dagit, one dockerd and one Slurm cluster, not one per
#: worker (a second dockerd would wait for the first one's data-root lock).
SHARED_PROCESS_GROUPS = {"dagit": "dagit", "docker_setup": "docker", "slurm_cluster": "slurm"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks (loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put each test in an xdist group: its shared server's, else its module's (loadfile-like)."""
    for item in items:
        group = next(
            (g for name, g in SHARED_PROCESS_GROUPS.items() if name in item.fixturenames),
            item.nodeid.split("::", 1)[0],
        )
        item.add_marker(pytest.mark.xdist_group(group))


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
