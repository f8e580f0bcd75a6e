"""The result store interface, shared document conversion, and `open_result_store(url, ...)`.

Two implementations share this interface and the query language of `storage.query`:
`MongoResultStore` (`mongo_store.py`, pymongo) and `SqlResultStore` (`sql_store.py`,
SQLAlchemy on SQLite or PostgreSQL). Every method behaves the same on both; the behavioural test
suite in `tests/results/` runs unchanged against each.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from lume_assets.errors import ConfigError, ResultNotFoundError
from lume_assets.storage.encoding import DEFAULT_ARRAY_THRESHOLD, Codec
from lume_assets.storage.results import (
    Provenance,
    Result,
    check_inputs_hash,
    check_inputs_hashes,
)
from lume_assets.storage.urls import with_password

SortSpec = str | Sequence[tuple[str, int]] | None


class ResultStore(ABC):
    """Where results live: idempotent writes keyed by inputs hash, and filtered queries."""

    kind: str  # "mongodb", "sqlite" or "postgresql"
    project: str  # the results' project (Mongo collection, SQL rows)
    codec: Codec

    # -- writes --------------------------------------------------------------------------------
    @abstractmethod
    def put(self, result: Result) -> str:
        """Insert or replace the result with this inputs hash; return its document id."""

    @abstractmethod
    def put_many(self, results: Iterable[Result]) -> int:
        """Insert or replace many results in batches; return how many were written."""

    def put_chunk(self, results: Sequence[Result]) -> int:
        """Write results that become visible together (a scan chunk): all or none of them.

        Like every write, an upsert never unpublishes a stored result (published is sticky).
        """
        return self.put_many(results)

    @abstractmethod
    def publish(self, inputs_hash: str, published: bool = True) -> Result:
        """Mark a stored result published (or held back); return it. Raises if it is absent."""

    def publish_many(self, inputs_hashes: Iterable[str], published: bool = True) -> int:
        """Set the published flag of many results at once; return how many exist.

        Stores override this with batched updates (an approval publishes a whole scan).
        """
        return sum(1 for h in check_inputs_hashes(inputs_hashes) if self.publish(h, published))

    # -- reads ---------------------------------------------------------------------------------
    @abstractmethod
    def find(
        self,
        model: str | None = None,
        filter: Mapping[str, Any] | None = None,
        sort: SortSpec = None,
        limit: int | None = None,
        include_unpublished: bool = False,
    ) -> list[Result]:
        """Return the results of `model` (all models if None) matching `filter`, sorted."""

    @abstractmethod
    def find_one(self, inputs_hash: str, include_unpublished: bool = False) -> Result | None:
        """Return the result with this inputs hash, or None."""

    @abstractmethod
    def count(
        self,
        model: str | None = None,
        filter: Mapping[str, Any] | None = None,
        include_unpublished: bool = False,
    ) -> int:
        """Return how many results match."""

    @abstractmethod
    def document_id(self, inputs_hash: str) -> str | None:
        """Return the store's id of the document with this hash (Mongo _id, SQL row id)."""

    @abstractmethod
    def ensure_index(self, path: str) -> str:
        """Make `path` (e.g. "inputs.k") fast to filter and sort on; return the index name."""

    @abstractmethod
    def indexed_paths(self) -> list[str]:
        """Return the paths that have an index (SQL stores index every stored path)."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Return where documents go: 'database.collection' or 'table (project=...)'."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    # -- helpers -------------------------------------------------------------------------------
    def get(self, inputs_hash: str, include_unpublished: bool = True) -> Result:
        """Return the result with this hash or raise ResultNotFoundError."""
        found = self.find_one(
            check_inputs_hash(inputs_hash), include_unpublished=include_unpublished
        )
        if found is None:
            raise ResultNotFoundError(
                f"No result with inputs hash {inputs_hash} in {self.kind} store {self.location}."
            )
        return found

    def __enter__(self) -> ResultStore:
        """Use the store as a context manager that closes it."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        self.close()

    # -- document conversion (shared by the stores) --------------------------------------------
    def to_document(self, result: Result) -> dict[str, Any]:
        """Return the stored document of a result (arrays encoded, large ones offloaded)."""
        return {
            "model": result.model,
            "version": result.version,
            "inputs_hash": result.inputs_hash,
            "created": result.created,
            "published": result.published,
            "inputs": self.codec.encode(result.inputs, "inputs"),
            "outputs": self.codec.encode(result.outputs, "outputs"),
            "provenance": result.provenance.model_dump(),
        }

    def from_document(self, doc: Mapping[str, Any]) -> Result:
        """Rebuild a Result from a stored document."""
        return Result(
            model=doc["model"],
            version=doc["version"],
            inputs=self.codec.decode(doc.get("inputs", {}), "inputs"),
            outputs=self.codec.decode(doc.get("outputs", {}), "outputs"),
            inputs_hash=doc["inputs_hash"],
            created=doc["created"],
            published=doc.get("published", True),
            provenance=Provenance(**(doc.get("provenance") or {})),
        )


def to_dataframe(results: Iterable[Result]) -> Any:
    """Return results as a pandas DataFrame: one row each, columns inputs.x, outputs.y, ..."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ConfigError(
            "to_dataframe needs pandas: `pip install pandas` (scripts/setup installs it)."
        ) from None
    rows = []
    for r in results:
        row: dict[str, Any] = {
            "model": r.model,
            "version": r.version,
            "inputs_hash": r.inputs_hash,
            "created": r.created,
            "published": r.published,
        }
        _flatten_into(row, "inputs", r.inputs)
        _flatten_into(row, "outputs", r.outputs)
        for key, value in r.provenance.model_dump().items():
            if key != "files":
                row[f"provenance.{key}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


def _flatten_into(row: dict[str, Any], prefix: str, value: Any) -> None:
    """Flatten nested dicts into dotted columns; lists and arrays stay whole cells."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten_into(row, f"{prefix}.{key}", item)
    else:
        row[prefix] = value


def _password(password: SecretStr | str | None, mongo: bool = True) -> SecretStr | None:
    """Return the password from the argument, else LUME_MONGO_PASSWORD (Mongo URLs) or
    LUME_POSTGRES_PASSWORD (SQL URLs) from the settings."""
    if password is not None:
        return password if isinstance(password, SecretStr) else SecretStr(password)
    from lume_assets.settings import get_settings

    settings = get_settings()
    return settings.mongo_password if mongo else settings.postgres_password


def open_result_store(
    url: str,
    project: str = "default",
    files_root: str | os.PathLike[str] | None = None,
    *,
    array_threshold: int = DEFAULT_ARRAY_THRESHOLD,
    timeout_s: float = 5.0,
    database: str | None = None,
    large_arrays: str | None = None,
    username: str | None = None,
    password: SecretStr | str | None = None,
) -> ResultStore:
    """Open the store for `url`: MongoDB for mongodb:// URLs, SQL (SQLite, PostgreSQL) else.

    Large arrays go to GridFS for Mongo (or HDF5 under `files_root` with
    ``large_arrays="hdf5"``), to HDF5 files under `files_root` for SQL. The password comes from
    `password`, the URL, or the `LUME_MONGO_PASSWORD` / `LUME_POSTGRES_PASSWORD` setting and never
    appears in errors or logs.
    """
    if not isinstance(url, str) or not url:
        raise ConfigError("The result store URL is empty; set LUME_RESULTS_URL or pass url=.")
    root = Path(files_root) if files_root is not None else None
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from lume_assets.storage.mongo_store import MongoResultStore

        return MongoResultStore(
            url,
            project=project,
            database=database,
            files_root=root,
            large_arrays=large_arrays or "gridfs",
            array_threshold=array_threshold,
            timeout_s=timeout_s,
            username=username,
            password=_password(password),
        )
    if large_arrays not in (None, "hdf5"):
        raise ConfigError(f"large_arrays={large_arrays!r}: SQL stores keep large arrays in HDF5.")
    from lume_assets.storage.sql_store import SqlResultStore

    secret = _password(password, mongo=False)
    return SqlResultStore(
        with_password(url, secret.get_secret_value() if secret else None),
        project=project,
        files_root=root,
        array_threshold=array_threshold,
        timeout_s=timeout_s,
    )


def created_from_ms(ms: int) -> datetime:
    """Return the UTC datetime of milliseconds since the epoch, exactly."""
    from datetime import UTC, timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ms))
