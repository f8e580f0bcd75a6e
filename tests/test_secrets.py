"""Passwords never show (issue 15 #2): given inline in a URL or through LUME_*_PASSWORD, a
password appears on no surface — Dagit's GraphQL resource config, the run event log and its
metadata, `lume-assets` stdout/stderr (the demo and errors), result documents, files on disk.

One real `lume-assets dev` (Dagit) and the real `lume-assets demo` run on a real PostgreSQL
cluster (trust auth: the server accepts any password, so the test sees where a password is
shown, and `test_env_passwords_reach_the_connection` checks that it is used to connect).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from lume_assets.models.registry import ModelRegistry
from lume_assets.settings import get_settings
from lume_assets.storage.result_stores import open_result_store
from lume_assets.storage.urls import mask_url, scrub, url_password, with_password
from tests.dagit_server import DagitServer, graphql, lume_assets_exe, project_env
from tests.servers import PostgresServer

INLINE_RESULTS = "Inl1neResults-pw-7f3a"
ENV_REGISTRY = "EnvRegistry-pw-91bc"
ENV_POSTGRES = "EnvPostgres-pw-5e6f"
ENV_MONGO = "EnvMongo-pw-22d1"
INLINE_ERROR = "Inl1neError-pw-0c0c"
INLINE_MONGO = "Inl1neMongo-pw-4d4d"
SECRETS = [INLINE_RESULTS, ENV_REGISTRY, ENV_POSTGRES, ENV_MONGO, INLINE_ERROR, INLINE_MONGO]


def hits(text: str | bytes) -> list[str]:
    """The secrets found in `text`."""
    data = text.encode() if isinstance(text, str) else text
    return [s for s in SECRETS if s.encode() in data]


def test_mask_url_and_with_password() -> None:
    url = "postgresql+psycopg2://lume:p@ss/w@db.example:5432/x"
    assert mask_url(url) == "postgresql+psycopg2://lume:***@db.example:5432/x"
    assert url_password(url) == "p@ss/w"
    assert mask_url("mongodb://u:pw@h1,h2/db?w=1") == "mongodb://u:***@h1,h2/db?w=1"
    assert mask_url("sqlite:////tmp/r.db") == "sqlite:////tmp/r.db"
    assert with_password("postgresql://u@h/db", "a/b@c") == "postgresql://u:a%2Fb%40c@h/db"
    assert with_password("postgresql://u:x@h/db", "y") == "postgresql://u:x@h/db"
    assert scrub("at mongodb://u:pw@h/db: pw?", "pw?") == "at mongodb://u:***@h/db: ***"


def test_env_passwords_reach_the_connection(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base = postgres_server.database_url("secrets_env")  # postgres@host: no password in it
    monkeypatch.setenv("LUME_POSTGRES_PASSWORD", ENV_POSTGRES)
    monkeypatch.setenv("LUME_REGISTRY_PASSWORD", ENV_REGISTRY)
    get_settings.cache_clear()
    try:
        with open_result_store(base, files_root=tmp_path) as store:
            assert store.engine.url.password == ENV_POSTGRES
            assert hits(store.location) == [] and hits(repr(store.engine.url)) == []
        registry = ModelRegistry(base)
        try:
            assert registry.engine.url.password == ENV_REGISTRY
            assert hits(registry._safe_url()) == []
        finally:
            registry.close()
    finally:
        get_settings.cache_clear()


@pytest.fixture(scope="module")
def deployment(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DagitServer, dict[str, str]]]:
    """A running Dagit whose results URL holds an inline password and whose registry password,
    Postgres password and Mongo password come from the environment."""
    results = postgres_server.database_url("secrets_results").replace(
        "//postgres@", f"//postgres:{INLINE_RESULTS}@"
    )
    registry = postgres_server.database_url("secrets_registry")
    extra = {
        "LUME_RESULTS_URL": results,
        "LUME_REGISTRY_URL": registry,
        "LUME_REGISTRY_PASSWORD": ENV_REGISTRY,
        "LUME_POSTGRES_PASSWORD": ENV_POSTGRES,
        "LUME_MONGO_PASSWORD": ENV_MONGO,
    }
    server = DagitServer.start(tmp_path_factory.mktemp("secrets"), env=extra)
    try:
        yield server, {**project_env(server.lume_home, server.dagster_home), **extra}
    finally:
        server.stop()


def lume(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `lume-assets ARGS` in `env`."""
    return subprocess.run(
        [lume_assets_exe(), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


RESOURCES = """
query Resources($selector: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $selector) {
    __typename
    ... on ResourceDetailsList {
      results { name configuredValues { key value type } }
    }
  }
}
"""
LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries { name
  locationOrLoadError { ... on RepositoryLocation { repositories { name } } } } } } }
"""
RUN_LOGS = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection { events { __typename ... on MessageEvent { message }
      ... on MaterializationEvent { metadataEntries { label
        ... on TextMetadataEntry { text } ... on JsonMetadataEntry { jsonString } } } } }
  }
}
"""


def test_no_surface_shows_a_password(deployment, postgres_server: PostgresServer) -> None:
    server, env = deployment
    # -- Dagit: the resources' configured values (the Resources page) -----------------------
    [entry] = graphql(server.url, LOCATIONS)["workspaceOrError"]["locationEntries"]
    repository = entry["locationOrLoadError"]["repositories"][0]["name"]
    selector = {"repositoryLocationName": entry["name"], "repositoryName": repository}
    resources = graphql(server.url, RESOURCES, {"selector": selector})
    shown = json.dumps(resources)
    assert hits(shown) == [], "Dagit resource config shows a password"
    by_name = {
        r["name"]: {v["key"]: v for v in r["configuredValues"]}
        for r in resources["allTopLevelResourceDetailsOrError"]["results"]
    }
    assert by_name["result_store"]["url"]["value"] == "LUME_RESULTS_URL"
    assert by_name["result_store"]["url"]["type"] == "ENV_VAR"
    assert by_name["result_store"]["postgres_password"]["type"] == "ENV_VAR"

    # -- the CLI: the demo run (stdout/stderr) ----------------------------------------------
    demo = lume(env, "demo")
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert hits(demo.stdout + demo.stderr) == []
    assert f"postgres:***@127.0.0.1:{postgres_server.port}/secrets_results" in demo.stdout

    # -- the CLI: errors for unreachable stores with inline passwords -------------------------
    for url in (
        f"postgresql+psycopg2://postgres:{INLINE_ERROR}@127.0.0.1:1/nowhere",
        f"mongodb://lume:{INLINE_MONGO}@127.0.0.1:1/nowhere",
        f"notadb://lume:{INLINE_ERROR}@x/y",
    ):
        failed = lume({**env}, "results", "--results-url", url, timeout=120)
        assert failed.returncode != 0
        assert hits(failed.stdout + failed.stderr) == [], failed.stderr

    # -- the run event log and its metadata, through Dagit's GraphQL ----------------------
    runs = graphql(server.url, "{ runsOrError { ... on Runs { results { runId } } } }")
    run_ids = [r["runId"] for r in runs["runsOrError"]["results"]]
    assert run_ids, "the demo's runs are in the server's instance"
    for run_id in run_ids:
        logs = json.dumps(graphql(server.url, RUN_LOGS, {"runId": run_id}))
        assert "MaterializationEvent" in logs or "Message" in logs
        assert hits(logs) == [], f"run {run_id} event log shows a password"

    # -- every file the deployment wrote (event log DBs, compute logs, HDF5, text) -----------
    for root in (server.lume_home, server.dagster_home):
        for path in root.rglob("*"):
            if path.is_file():
                assert hits(path.read_bytes()) == [], f"{path} holds a password"

    # -- result documents and registry rows in PostgreSQL ---------------------------------
    for db in ("secrets_results", "secrets_registry"):
        engine = sa.create_engine(postgres_server.database_url(db))
        try:
            with engine.connect() as conn:
                tables = sa.inspect(conn).get_table_names()
                assert tables
                for table in tables:
                    rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).all()
                    assert hits(repr(rows)) == [], f"{db}.{table} holds a password"
                if db == "secrets_results":
                    count = conn.execute(sa.text("SELECT count(*) FROM lume_results")).scalar()
                    assert count > 0
        finally:
            engine.dispose()
