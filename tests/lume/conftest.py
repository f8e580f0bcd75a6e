"""Fixtures for the LUME tests: they need the `lume` / `torch` extras (scripts/setup --dev
installs both, so CI runs them); without an extra its tests are skipped with the reason."""

from __future__ import annotations

import pytest

# The same real resource set and ephemeral instance as the model-asset tests.
from tests.assets.conftest import instance, resources  # noqa: F401


def need(module: str, extra: str) -> None:
    """Skip the calling test module unless `module` (from the `extra` extra) imports."""
    hint = f"needs the [{extra}] extra: pip install 'lume_assets[{extra}]'"
    pytest.importorskip(module, reason=hint)
