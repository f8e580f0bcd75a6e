"""Fixtures for the CLI tests: module-wide homes (shared with the client tests)."""

from tests.client.conftest import module_home

__all__ = ["module_home"]
