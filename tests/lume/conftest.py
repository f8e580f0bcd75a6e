"""Fixtures for the LUME tests: they need the `lume` / `torch` extras (scripts/setup --dev
installs both, so CI runs them); without an extra its tests are skipped with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest


def need(module: str, extra: str) -> None:
    """Skip the calling test module unless `module` (from the `extra` extra) imports."""
    hint = f"needs the [{extra}] extra: pip install 'lume_assets[{extra}]'"
    pytest.importorskip(module, reason=hint)


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
