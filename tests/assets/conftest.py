"""Fixtures for model-asset tests: the real resource set on an isolated LUME home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest


@pytest.fixture
def resources(lume_home: Path) -> dict[str, Any]:
    """The code location's resources (HDF5/text files, SQLite result store and registry)."""
    from lume_assets.serving import build_resources

    return build_resources()


@pytest.fixture
def instance(lume_home: Path) -> Iterator[dg.DagsterInstance]:
    """An ephemeral (in-memory) Dagster instance."""
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def store(resources: dict[str, Any]) -> Any:
    """The ResultStore behind the "result_store" resource."""
    return resources["result_store"].get_store()
