"""Fixtures: one result store per test on each backend (MongoDB protocol, SQLite, PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lume_assets.storage.result_stores import ResultStore, open_result_store
from tests.servers import PostgresServer

BACKENDS = ["mongodb", "sqlite", "postgresql"]


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """Return a factory: backend name -> URL of a fresh, isolated database for this test."""

    def make(backend: str) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        if backend == "mongodb":
            base = request.getfixturevalue("mongo_uri").rstrip("/")
            return f"{base}/{name}" if base.count("/") == 2 else base
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.database_url(name)

    return make


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The store backend under test."""
    return request.param


@pytest.fixture
def backend_url(backend: str, store_url: Callable[[str], str]) -> str:
    """URL of this test's fresh database on the backend under test."""
    return store_url(backend)


@pytest.fixture
def open_store(backend_url: str, tmp_path: Path) -> Iterator[Callable[..., ResultStore]]:
    """Return a factory opening stores on this test's database (closed at teardown)."""
    url = backend_url
    opened: list[ResultStore] = []

    def make(**kwargs: object) -> ResultStore:
        kwargs.setdefault("project", "proj")
        kwargs.setdefault("files_root", tmp_path / "files")
        store = open_result_store(url, **kwargs)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., ResultStore]) -> ResultStore:
    """A fresh result store on the backend under test."""
    return open_store()
