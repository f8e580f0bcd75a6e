"""Fixtures for the client tests: one LUME/DAGSTER home and one local client per module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lume_assets.settings import get_settings


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """LUME_HOME and DAGSTER_HOME in fresh temp dirs for a whole test module."""
    base = tmp_path_factory.mktemp("home")
    (base / "lume").mkdir()
    (base / "dagster").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for var in [k for k in os.environ if k.startswith("LUME_")]:
            if not var.startswith("LUME_TEST_"):
                mp.delenv(var)
        mp.setenv("LUME_HOME", str(base / "lume"))
        mp.setenv("DAGSTER_HOME", str(base / "dagster"))
        get_settings.cache_clear()
        yield base / "lume"
    get_settings.cache_clear()
