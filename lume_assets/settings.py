"""LUME_* environment settings (pydantic-settings): where files, results and the registry live."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    """Return the default lume_assets home directory (~/.lume_assets)."""
    return Path(os.path.expanduser("~")) / ".lume_assets"


class LumeSettings(BaseSettings):
    """Environment-driven configuration; every field is read from `LUME_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="LUME_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Root of all local state.")
    files_root: Path | None = Field(
        default=None, description="Root of result files (HDF5, text); default <home>/files."
    )
    mount_alias: Path | None = Field(
        default=None,
        description="Inside a container: the path where the host's files_root is mounted.",
    )
    chunk_runner: Literal["in_process", "processes"] = Field(
        default="in_process",
        description="Where scan chunks run by default: in_process or processes (a local pool).",
    )
    chunk_workers: int | None = Field(
        default=None,
        ge=1,
        description="Worker processes for chunk_runner=processes (default: CPUs).",
    )
    results_url: str | None = Field(
        default=None,
        description="Result store URL: mongodb://..., sqlite:///..., postgresql+psycopg2://...; "
        "default SQLite under <home>.",
    )
    registry_url: str | None = Field(
        default=None, description="Model registry SQLAlchemy URL; default SQLite under <home>."
    )
    mongo_password: SecretStr | None = Field(
        default=None, description="Password for the Mongo URI, kept out of logs and metadata."
    )
    postgres_password: SecretStr | None = Field(
        default=None,
        description="Password for a PostgreSQL results_url written without one (user@host).",
    )
    registry_password: SecretStr | None = Field(
        default=None,
        description="Password for a PostgreSQL registry_url written without one (user@host).",
    )
    project: str = Field(default="default", description="Project name (Mongo collection).")
    graphs_dir: Path | None = Field(
        default=None, description="Folder of YAML asset graphs loaded by the definitions."
    )
    inbox_dir: Path | None = Field(
        default=None, description="Folder watched by the new-input sensor."
    )

    def resolved_files_root(self) -> Path:
        """Return the directory that holds result files."""
        return self.files_root or self.home / "files"

    def resolved_results_url(self) -> str:
        """Return the result store URL (SQLite under home unless set)."""
        return self.results_url or f"sqlite:///{self.home / 'results.db'}"

    def resolved_registry_url(self) -> str:
        """Return the registry URL (SQLite under home unless set)."""
        return self.registry_url or f"sqlite:///{self.home / 'registry.db'}"


@lru_cache(maxsize=1)
def get_settings() -> LumeSettings:
    """Return the process-wide settings (cached; call `get_settings.cache_clear()` in tests)."""
    return LumeSettings()
