"""`SqlResultStore`: results in SQL (SQLite embedded by default, PostgreSQL for deployments).

Layout — a typed key/value index beside each document, not JSON functions:

- ``lume_results``: one row per result (project, inputs hash, model, version, created,
  published, a provenance id, and the encoded inputs/outputs as JSON text).
- ``lume_result_fields``: one row per queryable value of inputs and outputs: (result id, path
  id, seq, kind, number, text), kind being the value's BSON sort rank. On SQLite it is a
  ``WITHOUT ROWID`` table clustered by (result id, path id, seq), so the table itself is the
  per-result index; a second B-tree on (path id, kind, number, result id) serves equality and
  ranges, a partial one on (path id, kind, text, result id) strings.
- ``lume_paths``: dotted path -> small integer id (the index rows repeat an integer, not the
  path text), with a ``multi`` flag set once any result held a list at that path.
- ``lume_provenance`` + ``lume_provenance_fields``: provenance documents stored once per
  distinct content (a scan chunk's points share their run, asset, partition and code), with
  the same typed index; a result points at its provenance by id. Provenance strings are
  therefore not indexed once per point.

Filters compile to semi-joins on the index (``id IN (SELECT result_id ... WHERE path_id = ?
AND kind = ? AND num >= ? AND num < ?)``). Bounds on one path are merged into one such
condition when the path never held a list (MongoDB matches each bound against any element of
a list, so for list paths they stay separate). Sorting joins the index row of the sort path
(one row per result for a path that never held a list), falling back to min/max aggregates
for list paths. After bulk writes the store runs ``ANALYZE`` (SQLite with an analysis limit)
when the table has grown, so the planner drives range filters from the typed index.

Why not JSON functions (``json_extract`` / ``->>``)?

- they differ between SQLite and PostgreSQL in typing: ``json_extract`` returns native values,
  ``->>`` returns text that must be cast — and a cast fails on a row holding another type, while
  MongoDB simply does not match it. The typed table gives MongoDB's type-bracketed comparisons
  (``1 == 1.0``, ``true != 1``, ``"2" != 2``) with the same SQL on both databases;
- MongoDB's "a list matches if any element matches" needs ``json_each``/``jsonb_array_elements``
  (different on each database); here every list element is simply another row at the same path;
- indexing arbitrary dotted paths needs one expression index per path with JSON functions; the
  index table serves every path with the same few indexes, on SQLite as on PostgreSQL.

Writes are upserts keyed by (project, inputs_hash) (``INSERT ... ON CONFLICT DO UPDATE``, both
databases); a ``put_many`` call is one transaction, written in statements of `BATCH` rows, and
the index rows of results that existed before are replaced in it, so a reader never sees a
document without its index rows. SQLite writers take the lock up front (``BEGIN IMMEDIATE``,
WAL journal, busy timeout) so concurrent writers queue instead of failing.

The write path is kept to a few dict lookups per result: a flat inputs/outputs dict of plain
values is stored as it is (no codec walk), a batch's documents are JSON-encoded in one encoder
call, a provenance record is encoded and hashed once per distinct object (a scan chunk's points
share one), and a plain number's index row is sent as three values into a statement that holds
the constant columns. Durability: WAL with ``synchronous=NORMAL`` — a committed batch survives a
crash of the writing process (the WAL holds it before COMMIT returns); an OS crash or power loss
can roll back the last commits but never corrupts the file (``FULL`` would add an fsync to
every commit). Each connection gets 32 MiB of page cache so a bulk transaction's dirty index
pages are not spilled to the WAL and re-read mid-transaction. Strings are compared
by bytes (``COLLATE "C"`` on PostgreSQL), as MongoDB does. Limits (documented in the README):
integers beyond 2**53 compare as float64; strings longer than 1024 bytes (UTF-8) or paths longer
than 500 bytes are stored but not indexed, so they cannot be queried here.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from lume_assets.errors import (
    ConfigError,
    ResultNotFoundError,
    ResultStoreError,
    StoreUnavailableError,
)
from lume_assets.storage.blobs import HDF5BlobStore
from lume_assets.storage.encoding import DEFAULT_ARRAY_THRESHOLD, Codec, check_key
from lume_assets.storage.filesystems import LocalFilesystem
from lume_assets.storage.query import (
    ARRAY,
    BOOL,
    DATE,
    NULL,
    NUMBER,
    STRING,
    Condition,
    Leaf,
    check_limit,
    check_path,
    datetime_ms,
    iter_leaves,
    parse_filter,
    parse_sort,
    scalar_kind,
)
from lume_assets.storage.result_stores import ResultStore, SortSpec, created_from_ms
from lume_assets.storage.results import (
    Provenance,
    Result,
    check_inputs_hash,
    check_inputs_hashes,
)
from lume_assets.storage.urls import mask_url

MAX_INDEXED_TEXT = 1024  # bytes of UTF-8
MAX_PATH_BYTES = 500
BATCH = 5000  # rows per statement; a put_many call is one transaction
RANGES = ("$gt", "$gte", "$lt", "$lte")
UNKNOWN_PATH = -1  # the id of a path no result ever held: matches no index row
_PREPARED: set[tuple[str, int, int, int]] = set()  # SQLite files set up by this process


def _bytes_text(length: int | None = None) -> sa.types.TypeEngine:
    """A string type compared by bytes on every database (COLLATE "C" on PostgreSQL)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


metadata = sa.MetaData()
paths_table = sa.Table(
    "lume_paths",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("path", _bytes_text(MAX_PATH_BYTES), nullable=False, unique=True),
    sa.Column("multi", sa.Boolean, nullable=False, default=False),
)
provenance_table = sa.Table(
    "lume_provenance",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", _bytes_text(200), nullable=False),
    sa.Column("digest", _bytes_text(64), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.UniqueConstraint("project", "digest", name="uq_lume_provenance_digest"),
)
results_table = sa.Table(
    "lume_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", _bytes_text(200), nullable=False),
    sa.Column("inputs_hash", _bytes_text(64), nullable=False),
    sa.Column("model", _bytes_text(200), nullable=False),
    sa.Column("version", _bytes_text(200), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("published", sa.Boolean, nullable=False),
    sa.Column("provenance_id", sa.Integer, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.UniqueConstraint("project", "inputs_hash", name="uq_lume_results_hash"),
    sa.Index("ix_lume_results_model", "project", "model", "created_ms"),
)


def _fields_table(name: str) -> sa.Table:
    """Return a typed index table (owner id, path id, seq, kind, num, text)."""
    return sa.Table(
        name,
        metadata,
        sa.Column("owner_id", sa.Integer, nullable=False),
        sa.Column("path_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("num", sa.Double, nullable=True),
        sa.Column("text", _bytes_text(), nullable=True),
        sa.PrimaryKeyConstraint("owner_id", "path_id", "seq"),
        sa.Index(f"ix_{name}_num", "path_id", "kind", "num", "owner_id"),
        sa.Index(
            f"ix_{name}_text",
            "path_id",
            "kind",
            "text",
            "owner_id",
            sqlite_where=sa.text("text IS NOT NULL"),
            postgresql_where=sa.text("text IS NOT NULL"),
        ),
        sqlite_with_rowid=False,
    )


fields_table = _fields_table("lume_result_fields")
provenance_fields_table = _fields_table("lume_provenance_fields")
R, F, P, PF, PATHS = (
    results_table,
    fields_table,
    provenance_table,
    provenance_fields_table,
    paths_table,
)
# Top-level paths are columns of fixed kind: compared directly, no index rows needed.
COLUMNS = {
    "model": (R.c.model, STRING),
    "version": (R.c.version, STRING),
    "inputs_hash": (R.c.inputs_hash, STRING),
    "created": (R.c.created_ms, DATE),
}
_REPLACED = ("model", "version", "created_ms", "published", "provenance_id", "document")
_RESULT_COLUMNS = ("project", "inputs_hash", *_REPLACED)
# published is sticky: a re-run, retry or held copy never unpublishes a result
_SET = {c: f"excluded.{c}" for c in _REPLACED} | {
    "published": f"({R.name}.published OR excluded.published)"
}
_UPSERT = (
    " ON CONFLICT (project, inputs_hash) DO UPDATE SET "
    + ", ".join(f"{c} = {v}" for c, v in _SET.items())
    + " RETURNING inputs_hash, id"
)
_ROW_COLS = "model, version, inputs_hash, created_ms, published, document, provenance_id"
_FIELD_COLUMNS = ("owner_id", "path_id", "seq", "kind", "num", "text")
_NUMBER_ROW = "{}, {}, 0, " + str(NUMBER) + ", {}, NULL"  # a plain number at seq 0


def _indexable(leaf: Leaf) -> bool:
    """Whether a leaf fits the index (PostgreSQL B-tree entries are limited to ~2.7 kB)."""
    if len(leaf.path.encode()) > MAX_PATH_BYTES:
        return False
    return leaf.text is None or len(leaf.text.encode()) <= MAX_INDEXED_TEXT


# Plain scalars (numpy float64 is a float subclass the codec keeps as it is).
_FAST_KINDS = {
    float: NUMBER,
    np.float64: NUMBER,
    int: NUMBER,
    str: STRING,
    bool: BOOL,
    type(None): NULL,
}
_PathIds = dict[str, tuple[int, bool]]  # path -> (id, holds a list)


_PLAIN_DECODED = frozenset({float, int, str, bool, type(None)})


def _created(ms: int) -> datetime:
    """Return the UTC datetime of milliseconds since the epoch (exact to the millisecond)."""
    value = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if value.microsecond % 1000:  # float rounding (never seen within years 1-9999)
        return created_from_ms(ms)
    return value


def _own_copy(provenance: Provenance) -> Provenance:
    """Return a copy of a cached provenance record with its own files dict."""
    copied = provenance.model_copy()
    copied.files = dict(provenance.files)
    return copied


def _fits(text: str) -> bool:
    """Whether a string is short enough to index."""
    return len(text.encode()) <= MAX_INDEXED_TEXT


def _leaf_value(value: Any) -> tuple[str, Any]:
    """Return (column name, column value) holding a scalar operand."""
    kind = scalar_kind(value)
    if kind == STRING:
        return "text", value
    if kind == DATE:
        return "num", datetime_ms(value)
    return "num", float(value)


# one encoder for every document: json.dumps(..., separators=...) builds a new one per call
_JSON = json.JSONEncoder(allow_nan=True, separators=(",", ":"))


def _dumps(value: Any) -> str:
    """Return compact JSON text (NaN and infinities allowed, as in the stored documents)."""
    return _JSON.encode(value)


_BODY_START = '{"inputs":'


def _dumps_flat(bodies: list[dict[str, Any]]) -> list[str]:
    """Return the JSON text of each body {"inputs": {...}, "outputs": {...}} in ONE encoder call.

    Only for bodies whose two dicts hold plain scalars: then a ``{`` follows a comma only where
    a body starts (inside a string every quote is escaped), so the list's text splits exactly
    into the bodies' texts.
    """
    if not bodies:
        return []
    texts = _JSON.encode(bodies)[1:-1].split("," + _BODY_START)
    return [texts[0]] + [_BODY_START + t for t in texts[1:]]


# Values a document holds exactly as they are (the codec would return them unchanged): a flat
# dict of only these is stored without walking it through the codec.
_AS_IS = frozenset({float, np.float64, bool, type(None)})
_INT64 = (-(2**63), 2**63 - 1)


@dataclass
class _Paths:
    """Path ids and list flags of the paths one query uses (read in the query's transaction)."""

    ids: dict[str, int] = field(default_factory=dict)
    multi: set[str] = field(default_factory=set)

    def id(self, path: str) -> int:
        """Return the id of a path (UNKNOWN_PATH if no result ever held it)."""
        return self.ids.get(path, UNKNOWN_PATH)


class SqlResultStore(ResultStore):
    """Results in SQL tables (see module docstring)."""

    def __init__(
        self,
        url: str,
        project: str = "default",
        *,
        files_root: Path | None = None,
        array_threshold: int = DEFAULT_ARRAY_THRESHOLD,
        timeout_s: float = 5.0,
    ) -> None:
        """Connect (within `timeout_s`), create the tables if needed."""
        try:
            self.url = make_url(url)
        except ArgumentError:
            raise ConfigError(
                f"Result store URL {mask_url(url)!r} is neither mongodb:// nor a SQLAlchemy URL "
                "(sqlite:///path.db, postgresql+psycopg2://user@host/db)."
            ) from None
        self.project = project
        self.timeout_s = timeout_s
        backend = self.url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ConfigError(
                f"Result store backend {backend!r} is not supported; use sqlite or "
                "postgresql (postgresql+psycopg2://...)."
            )
        self.kind = backend
        self._insert = sqlite_insert if backend == "sqlite" else pg_insert
        self.engine = self._make_engine()
        blobs = HDF5BlobStore(LocalFilesystem(files_root)) if files_root is not None else None
        self.codec = Codec(binary="base64", blobs=blobs, array_threshold=array_threshold)
        self._path_cache: dict[str, tuple[int, bool]] = {}  # grows only; multi only turns on
        self._analyzed_rows = 0  # result rows counted at the last ANALYZE by this process
        self._written = 0  # rows written by this process since then
        self._local = threading.local()  # per-thread raw SQLite connection for find_one
        self._raw: list[Any] = []
        ready = self._ready_key()
        if ready is None or ready not in _PREPARED:
            with self._errors():
                self._check_layout()
                metadata.create_all(self.engine)
            if ready is not None:
                _PREPARED.add(ready)

    def _ready_key(self) -> tuple[str, int, int, int] | None:
        """Return (file, device, inode, mtime) of an existing SQLite file, else None.

        A file replaced or written by someone else since this process set it up has another
        key, so its layout is checked again.
        """
        db = self.url.database
        if self.kind != "sqlite" or not db or db == ":memory:":
            return None
        try:
            st = Path(db).expanduser().stat()
        except OSError:
            return None
        return (str(Path(db).expanduser()), st.st_dev, st.st_ino, st.st_mtime_ns)

    # -- plumbing ------------------------------------------------------------------------------
    def _check_layout(self) -> None:
        """Refuse a database written by the first layout (path text and sort key per row)."""
        columns = (
            {c["name"] for c in sa.inspect(self.engine).get_columns(F.name)}
            if sa.inspect(self.engine).has_table(F.name)
            else set()
        )
        if "skey" in columns:
            raise ConfigError(
                f"{self._where} holds results in an older lume_assets layout "
                f"({F.name} has a 'skey' column); use a new database file or name."
            )

    def _make_engine(self) -> sa.Engine:
        """Create the engine; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE writers."""
        if self.kind == "postgresql":
            return sa.create_engine(
                self.url,
                connect_args={"connect_timeout": max(1, math.ceil(self.timeout_s))},
                pool_pre_ping=True,
                insertmanyvalues_page_size=BATCH,
            )
        db = self.url.database
        if db and db != ":memory:":
            try:
                Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailableError(
                    f"Cannot create the folder of SQLite result store {db}: {exc.strerror}."
                ) from None
        engine = sa.create_engine(
            self.url,
            connect_args={"timeout": self.timeout_s, "check_same_thread": False},
            poolclass=sa.pool.StaticPool if db in (None, "", ":memory:") else None,
        )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a committed transaction survives a crash of the process (the WAL
            # is written before COMMIT returns); only an OS crash or power loss can roll back
            # the last commits, never corrupt the file. FULL would add an fsync per commit.
            cur.execute("PRAGMA synchronous=NORMAL")
            # 32 MiB of page cache (default 2 MiB): a bulk transaction's dirty index pages stay
            # in memory instead of spilling to the WAL mid-transaction and being re-read
            cur.execute("PRAGMA cache_size=-32768")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            immediate = conn.info.get("lume_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @property
    def _where(self) -> str:
        """Return the server (host:port, no password) or the file, for messages."""
        if self.kind == "sqlite":
            return f"SQLite file {self.url.database}"
        return f"PostgreSQL at {self.url.host or 'localhost'}:{self.url.port or 5432}"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn SQLAlchemy errors into lume errors that name the server, never the password."""
        try:
            yield
        except OperationalError as exc:
            text = str(exc.orig).strip().splitlines()[0] if exc.orig else ""
            if self.url.password:
                text = text.replace(self.url.password, "***")
            raise StoreUnavailableError(
                f"{self._where} is not usable within {self.timeout_s:g} s ({text}); start it, "
                "or check LUME_RESULTS_URL."
            ) from None
        except SQLAlchemyError as exc:
            text = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise ResultStoreError(f"{self._where} failed: {text[:300]}") from None

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """Yield a connection inside a write transaction (SQLite: BEGIN IMMEDIATE)."""
        with self._errors(), self.engine.connect() as conn:
            conn.info["lume_write"] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("lume_write", None)

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        """Yield a connection for reads."""
        with self._errors(), self.engine.connect() as conn:
            yield conn

    @property
    def location(self) -> str:
        """Return 'table (project=...)'."""
        return f"{R.name} (project={self.project})"

    def close(self) -> None:
        """Release the raw read connections and dispose of the engine's connections."""
        for raw in self._raw:
            raw.close()
        self._raw.clear()
        self._local = threading.local()
        self.engine.dispose()

    # -- writes --------------------------------------------------------------------------------
    def put(self, result: Result) -> str:
        """Upsert one result by inputs hash; return its row id."""
        self.put_many([result])
        doc_id = self.document_id(result.inputs_hash)
        assert doc_id is not None
        return doc_id

    def put_many(self, results: Iterable[Result]) -> int:
        """Upsert results in one transaction (statements of BATCH rows); return how many."""
        total = 0
        local: _PathIds = {}  # paths created or flagged by this transaction
        with self._write() as conn:
            batch: list[Result] = []
            for result in results:
                batch.append(result)
                if len(batch) >= BATCH:
                    total += self._write_batch(conn, batch, local)
                    batch = []
            if batch:
                total += self._write_batch(conn, batch, local)
        self._path_cache.update(local)  # cached once committed
        self._maybe_analyze()
        return total

    def put_chunk(self, results: Sequence[Result]) -> int:
        """Write a chunk of results in ONE transaction: readers see all of it or none."""
        return self.put_many(results) if results else 0

    def _path_id(self, conn: sa.Connection, path: str, local: _PathIds) -> int | None:
        """Return the id of `path` (created if new), or None if it is too long to index."""
        hit = local.get(path) or self._path_cache.get(path)
        if hit is not None:
            return hit[0]
        if len(path.encode()) > MAX_PATH_BYTES:
            return None
        conn.execute(
            self._insert(PATHS).on_conflict_do_nothing(index_elements=[PATHS.c.path]),
            {"path": path, "multi": False},
        )
        row = conn.execute(sa.select(PATHS.c.id, PATHS.c.multi).where(PATHS.c.path == path)).one()
        local[path] = (row[0], bool(row[1]))
        return row[0]

    def _flag_lists(self, conn: sa.Connection, paths: set[str], local: _PathIds) -> None:
        """Mark paths that now hold a list (range bounds on them are no longer merged)."""
        todo = [p for p in paths if not (local.get(p) or self._path_cache[p])[1]]
        if todo:
            conn.execute(sa.update(PATHS).where(PATHS.c.path.in_(todo)).values(multi=True))
            for p in todo:
                local[p] = ((local.get(p) or self._path_cache[p])[0], True)

    def _provenance_ids(
        self, conn: sa.Connection, docs: dict[str, str], local: _PathIds
    ) -> dict[str, int]:
        """Return ids of provenance documents (digest -> JSON), storing new ones once."""
        select = sa.select(P.c.digest, P.c.id).where(
            P.c.project == self.project, P.c.digest.in_(list(docs))
        )
        ids = dict(conn.execute(select).all())
        new = [d for d in docs if d not in ids]
        if not new:
            return ids
        stmt = (
            self._insert(P)
            .on_conflict_do_nothing(index_elements=[P.c.project, P.c.digest])
            .returning(P.c.digest, P.c.id)
        )
        rows = [{"project": self.project, "digest": d, "document": docs[d]} for d in new]
        inserted = dict(conn.execute(stmt, rows).all())  # only rows this transaction added
        owners = {i: {"provenance": json.loads(docs[d])} for d, i in inserted.items()}
        ids.update(inserted)
        if len(ids) < len(docs):  # another writer stored some meanwhile (PostgreSQL)
            ids.update(conn.execute(select).all())
        self._write_fields(conn, PF, owners, local)
        return ids

    def _write_fields(
        self,
        conn: sa.Connection,
        table: sa.Table,
        owners: Mapping[int, Mapping[str, Any]],
        local: _PathIds,
    ) -> None:
        """Insert the index rows of the documents `owners` (owner id -> {root: dict}).

        The rows are those of `iter_leaves` under each root (not the root itself). Plain
        scalars, the common case, take a direct path, and a plain number (kind NUMBER, seq 0)
        is sent as three values (owner, path id, number) to a statement holding the constants.
        """
        numbers: list[tuple[Any, ...]] = []  # (owner, path id, num) of plain numbers
        rows: list[tuple[Any, ...]] = []  # every other row, all six columns
        add_number, add_row = numbers.append, rows.append
        lists: set[str] = set()
        memo: dict[str, dict[str, int | None]] = {}
        kinds = _FAST_KINDS
        for owner, doc in owners.items():
            for root, value in doc.items():
                ids = memo.get(root)
                if ids is None:
                    ids = memo[root] = {}
                for key, item in value.items():
                    kind = kinds.get(type(item))
                    if kind is None:
                        self._nested_rows(conn, owner, item, f"{root}.{key}", rows, lists, local)
                        continue
                    pid = ids.get(key, 0)
                    if pid == 0:
                        pid = ids[key] = self._path_id(conn, f"{root}.{key}", local)
                    if pid is None:
                        continue
                    if kind == NUMBER:
                        add_number((owner, pid, float(item) if item == item else None))
                    elif kind == STRING:
                        if len(item) * 4 <= MAX_INDEXED_TEXT or _fits(item):
                            add_row((owner, pid, 0, kind, None, item))
                    elif kind == BOOL:
                        add_row((owner, pid, 0, kind, 1.0 if item else 0.0, None))
                    else:
                        add_row((owner, pid, 0, kind, None, None))
        self._flag_lists(conn, lists, local)
        self._bulk_insert(conn, table, _FIELD_COLUMNS, rows)
        self._bulk_insert(conn, table, _FIELD_COLUMNS, numbers, values=_NUMBER_ROW)

    def _nested_rows(
        self,
        conn: sa.Connection,
        owner: int,
        value: Any,
        path: str,
        rows: list[tuple[Any, ...]],
        lists: set[str],
        local: _PathIds,
    ) -> None:
        """Append the index rows of a dict or list value (list elements numbered by seq)."""
        seq: dict[str, int] = {}
        for leaf in iter_leaves(value, path):
            if not _indexable(leaf):
                continue
            pid = self._path_id(conn, leaf.path, local)
            if pid is None:
                continue
            n = seq.get(leaf.path, 0)
            seq[leaf.path] = n + 1
            rows.append((owner, pid, n, leaf.kind, leaf.num, leaf.text))
            if leaf.kind == ARRAY:
                lists.add(leaf.path)

    def _bulk_insert(
        self,
        conn: sa.Connection,
        table: sa.Table,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        suffix: str = "",
        values: str | None = None,
    ) -> list[Any]:
        """Insert row tuples straight through the driver (executemany / execute_values).

        The rows are already plain Python values, so SQLAlchemy's per-row parameter
        processing is skipped; `suffix` (ON CONFLICT ..., RETURNING ...) is appended.
        `values` is a row template with a ``{}`` per value sent (constants written in it),
        by default one per column. Returns the fetched rows when `suffix` has a RETURNING
        clause (PostgreSQL).
        """
        if not rows:
            return []
        names = ", ".join(columns)
        template = values or ", ".join(["{}"] * len(columns))
        if self.kind == "sqlite":
            marks = template.replace("{}", "?")
            conn.exec_driver_sql(
                f"INSERT INTO {table.name} ({names}) VALUES ({marks}){suffix}", rows
            )
            return []
        from psycopg2.extras import execute_values

        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            return (
                execute_values(
                    cur,
                    f"INSERT INTO {table.name} ({names}) VALUES %s{suffix}",
                    rows,
                    template=None if values is None else f"({template.replace('{}', '%s')})",
                    page_size=BATCH,
                    fetch="RETURNING" in suffix,
                )
                or []
            )
        finally:
            cur.close()

    def _flat(self, value: dict[str, Any], root: str, keys: set[str]) -> dict[str, Any]:
        """Return the stored form of inputs or outputs: `value` itself when it is flat and
        holds only values the codec keeps as they are (the common case), else the codec's.

        `keys` holds the keys already checked in this batch (results share their keys).
        """
        for key, item in value.items():
            kind = type(item)
            if kind in _AS_IS:
                pass
            elif kind is int:
                if not _INT64[0] <= item <= _INT64[1]:
                    return self.codec.encode(value, root)
            elif kind is not str or not item.isascii():
                return self.codec.encode(value, root)
            if key not in keys:
                check_key(key, root)
                keys.add(key)
        return value

    def _write_batch(self, conn: sa.Connection, results: list[Result], local: _PathIds) -> int:
        """Upsert a batch: provenance, documents, then their index rows.

        Per result this is a few dict lookups and one JSON encoding: provenance is encoded
        and hashed once per distinct record (a scan chunk's results share one object), a flat
        dict of plain values skips the codec, `created` is converted once per distinct time.
        """
        latest = {r.inputs_hash: r for r in results}  # a hash twice in a batch: last wins
        hashes = sorted(latest)  # a fixed order: concurrent batches cannot deadlock
        provenance: dict[str, str] = {}  # digest -> JSON of the distinct records
        prov_of: list[str] = []  # digest of each result, in `hashes` order
        bodies: list[dict[str, Any]] = []
        flat = True  # every body a pair of flat dicts of plain values (see _dumps_flat)
        by_object: dict[int, str] = {}  # id(provenance) -> digest (objects live in `latest`)
        seen: dict[tuple[Any, ...], str] = {}  # equal records without files share a digest
        created: dict[datetime, float] = {}
        keys_in: set[str] = set()
        keys_out: set[str] = set()
        for h in hashes:
            r = latest[h]
            p = r.provenance
            digest = by_object.get(id(p))
            if digest is None:
                # records with files or input files are each result's own: no content lookup
                key = (
                    (p.run_id, p.asset_key, p.partition_key, p.code_sha)
                    + (type(p.deployment_id), p.deployment_id)
                    if not p.files and not p.input_files
                    else None
                )
                digest = seen.get(key) if key else None
                if digest is None:
                    prov = _dumps(p.model_dump())
                    digest = hashlib.sha256(prov.encode()).hexdigest()
                    if key:
                        seen[key] = digest
                    provenance[digest] = prov
                by_object[id(p)] = digest
            prov_of.append(digest)
            inputs = self._flat(r.inputs, "inputs", keys_in)
            outputs = self._flat(r.outputs, "outputs", keys_out)
            flat = flat and inputs is r.inputs and outputs is r.outputs
            bodies.append({"inputs": inputs, "outputs": outputs})
            if r.created not in created:
                created[r.created] = datetime_ms(r.created)
        texts = _dumps_flat(bodies) if flat else [_dumps(b) for b in bodies]
        prov_ids = self._provenance_ids(conn, provenance, local)
        project = self.project
        rows = [
            (
                project,
                h,
                (r := latest[h]).model,
                r.version,
                created[r.created],
                r.published,
                prov_ids[digest],
                text,
            )
            for h, digest, text in zip(hashes, prov_of, texts, strict=True)
        ]
        if self.kind == "sqlite":
            ids = self._sqlite_rows(conn, hashes, rows)
        else:  # writers run concurrently: upsert every row, replace all its index rows
            returned = self._bulk_insert(conn, R, _RESULT_COLUMNS, rows, _UPSERT)
            ids = dict(returned)
            stale = list(ids.values())
            for start in range(0, len(stale), BATCH):
                conn.execute(sa.delete(F).where(F.c.owner_id.in_(stale[start : start + BATCH])))
        self._write_fields(
            conn, F, {ids[h]: body for h, body in zip(hashes, bodies, strict=True)}, local
        )
        self._written += len(hashes)
        return len(results)

    def _sqlite_rows(
        self, conn: sa.Connection, hashes: list[str], rows: list[tuple[Any, ...]]
    ) -> dict[str, int]:
        """Write result rows on SQLite; return hash -> id.

        The writer holds the database lock (BEGIN IMMEDIATE), so the rows found here are all
        that exist: they are updated in place (their index rows dropped), the others inserted
        with the next ids.
        """
        marks = ", ".join("?" * len(hashes))
        found = conn.exec_driver_sql(
            f"SELECT inputs_hash, id FROM {R.name} WHERE project = ? AND inputs_hash IN ({marks})",
            (self.project, *hashes),
        ).all()
        ids = dict(found)
        if ids:
            sets = ", ".join(
                "published = (published OR ?)" if c == "published" else f"{c} = ?"
                for c in _REPLACED
            )
            conn.exec_driver_sql(
                f"UPDATE {R.name} SET {sets} WHERE id = ?",
                [(*row[2:], ids[row[1]]) for row in rows if row[1] in ids],
            )
            stale = list(ids.values())
            for start in range(0, len(stale), BATCH):
                conn.execute(sa.delete(F).where(F.c.owner_id.in_(stale[start : start + BATCH])))
        new = [row for row in rows if row[1] not in ids] if ids else rows
        if new:
            top = conn.exec_driver_sql(f"SELECT max(id) FROM {R.name}").scalar() or 0
            ids.update((row[1], top + i) for i, row in enumerate(new, start=1))
            self._bulk_insert(
                conn, R, ("id", *_RESULT_COLUMNS), [(top + i, *row) for i, row in enumerate(new, 1)]
            )
        return ids

    def _maybe_analyze(self) -> None:
        """Refresh planner statistics when this process has written as many rows as it saw."""
        if self._written < max(self._analyzed_rows, 1000):
            return
        with self._read() as conn:
            rows = int(conn.execute(sa.select(sa.func.count()).select_from(R)).scalar_one())
        self._written = 0
        if rows < 2 * self._analyzed_rows:
            return
        with self._write() as conn:
            if self.kind == "sqlite":
                conn.exec_driver_sql("PRAGMA analysis_limit=1000")
                conn.exec_driver_sql("ANALYZE")
            else:
                conn.exec_driver_sql(f"ANALYZE {R.name}, {F.name}, {PF.name}")
        self._analyzed_rows = rows

    def publish(self, inputs_hash: str, published: bool = True) -> Result:
        """Set the published flag of a stored result."""
        inputs_hash = check_inputs_hash(inputs_hash)
        with self._write() as conn:
            n = conn.execute(
                sa.update(R)
                .where(R.c.project == self.project, R.c.inputs_hash == inputs_hash)
                .values(published=published)
            ).rowcount
        if not n:
            raise ResultNotFoundError(
                f"No result with inputs hash {inputs_hash} in {self._where}, {self.location}; "
                "nothing to publish."
            )
        return self.get(inputs_hash, include_unpublished=True)

    def publish_many(self, inputs_hashes: Iterable[str], published: bool = True) -> int:
        """Set the published flag of many results in one transaction (batched IN updates)."""
        hashes = check_inputs_hashes(inputs_hashes)
        changed = 0
        with self._write() as conn:
            for start in range(0, len(hashes), BATCH):
                changed += conn.execute(
                    sa.update(R)
                    .where(
                        R.c.project == self.project,
                        R.c.inputs_hash.in_(hashes[start : start + BATCH]),
                    )
                    .values(published=published)
                ).rowcount
        return changed

    # -- queries -------------------------------------------------------------------------------
    def _paths(self, conn: sa.Connection, paths: Iterable[str]) -> _Paths:
        """Read the ids and list flags of `paths` in the query's own transaction."""
        wanted = sorted({p for p in paths if p not in COLUMNS})
        found = _Paths()
        if wanted:
            rows = conn.execute(
                sa.select(PATHS.c.path, PATHS.c.id, PATHS.c.multi).where(PATHS.c.path.in_(wanted))
            ).all()
            found.ids = {p: i for p, i, _ in rows}
            found.multi = {p for p, _, m in rows if m}
        return found

    @staticmethod
    def _index(path: str) -> tuple[sa.Table, sa.ColumnElement[Any]]:
        """Return the index table of a path and the results column its owner id matches."""
        if path.startswith("provenance."):
            return PF, R.c.provenance_id
        return F, R.c.id

    def _conditions(self, conds: list[Condition], paths: _Paths) -> list[sa.ColumnElement[bool]]:
        """Compile checked conditions, merging the range bounds on a path that holds no list."""
        out: list[sa.ColumnElement[bool]] = []
        bounds: dict[tuple[str, int], list[Condition]] = {}
        for c in conds:
            if c.path in COLUMNS:
                out.append(self._column_condition(c))
            elif c.op in RANGES and c.path not in paths.multi:
                bounds.setdefault((c.path, scalar_kind(c.value)), []).append(c)
            else:
                out.append(self._condition(c, paths))
        for (path, kind), group in bounds.items():
            table, owner = self._index(path)
            col = table.c[_leaf_value(group[0].value)[0]]
            ops = [_compare(col, c.op, _leaf_value(c.value)[1]) for c in group]
            out.append(
                owner.in_(
                    sa.select(table.c.owner_id).where(
                        table.c.path_id == paths.id(path), table.c.kind == kind, *ops
                    )
                )
            )
        return out

    def _condition(self, c: Condition, paths: _Paths) -> sa.ColumnElement[bool]:
        """Compile one checked condition on an indexed path with MongoDB's semantics."""
        table, owner = self._index(c.path)
        path_id = paths.id(c.path)

        def exists(*clauses: Any) -> sa.ColumnElement[bool]:
            # An uncorrelated IN (sub-select): the index finds the matching rows once (a
            # semi-join), instead of one probe per candidate result.
            return owner.in_(
                sa.select(table.c.owner_id).where(table.c.path_id == path_id, *clauses)
            )

        def equals(values: Iterable[Any]) -> sa.ColumnElement[bool]:
            by_kind: dict[int, list[Any]] = {}
            for v in values:
                by_kind.setdefault(scalar_kind(v), []).append(v)
            parts: list[sa.ColumnElement[bool]] = []
            if NULL in by_kind:
                parts.append(sa.or_(exists(table.c.kind == NULL), ~exists()))
            matches = []
            for kind, vals in by_kind.items():
                if kind == NULL:
                    continue
                col = table.c[_leaf_value(vals[0])[0]]
                matches.append(
                    sa.and_(table.c.kind == kind, col.in_([_leaf_value(v)[1] for v in vals]))
                )
            if matches:
                parts.append(exists(sa.or_(*matches)))
            return sa.or_(*parts) if parts else sa.false()

        if c.op == "$eq":
            return equals([c.value])
        if c.op == "$ne":
            return sa.not_(equals([c.value]))
        if c.op == "$in":
            return equals(c.value)
        col_name, value = _leaf_value(c.value)
        return exists(
            table.c.kind == scalar_kind(c.value), _compare(table.c[col_name], c.op, value)
        )

    def _column_condition(self, c: Condition) -> sa.ColumnElement[bool]:
        """Compile a condition on a fixed-kind column (never missing, never null)."""
        col, kind = COLUMNS[c.path]
        values = c.value if c.op == "$in" else (c.value,)
        same = [_leaf_value(v)[1] for v in values if v is not None and scalar_kind(v) == kind]
        if c.op in ("$eq", "$in"):
            return col.in_(same) if same else sa.false()
        if c.op == "$ne":
            return col != same[0] if same else sa.true()
        if not same:
            return sa.false()
        return _compare(col, c.op, same[0])

    def _select(
        self,
        conn: sa.Connection,
        columns: list[Any],
        model: str | None,
        filter: Mapping[str, Any] | None,
        include_unpublished: bool,
        sort: list[tuple[str, int]] = (),  # type: ignore[assignment]
    ) -> tuple[sa.Select, _Paths]:
        """Return a SELECT of `columns` over the matching results, and the paths it used."""
        conditions = parse_filter(filter)
        paths = self._paths(conn, [c.path for c in conditions] + [p for p, _ in sort])
        q = sa.select(*columns).where(R.c.project == self.project)
        if model is not None:
            q = q.where(R.c.model == model)
        if not include_unpublished:
            q = q.where(R.c.published.is_(True))
        return q.where(*self._conditions(conditions, paths)), paths

    def _order(
        self, q: sa.Select, path: str, direction: int, paths: _Paths, n: int
    ) -> tuple[sa.Select, list[sa.ColumnElement[Any]]]:
        """Return the query and ORDER BY terms for a path in MongoDB order.

        Missing sorts as null; NaN lowest of the numbers; a list by its smallest element
        ascending and its largest descending.
        """
        asc = direction == 1
        if path in COLUMNS:
            col = COLUMNS[path][0]
            return q, [col.asc() if asc else col.desc()]
        table, owner = self._index(path)
        path_id = paths.id(path)
        if path not in paths.multi:  # at most one index row per owner: join it
            s = table.alias(f"sort_{n}")
            q = q.join_from(
                R, s, sa.and_(s.c.owner_id == owner, s.c.path_id == path_id), isouter=True
            )
            kind, num, text = sa.func.coalesce(s.c.kind, NULL), s.c.num, s.c.text
        else:  # lists: aggregate the smallest (ascending) or largest (descending) element
            agg = sa.func.min if asc else sa.func.max

            def sub(expr: Any, *where: Any) -> Any:
                return (
                    sa.select(expr)
                    .where(
                        table.c.owner_id == owner,
                        table.c.path_id == path_id,
                        table.c.kind != ARRAY,
                        *where,
                    )
                    .scalar_subquery()
                )

            kind = sa.func.coalesce(sub(agg(table.c.kind)), NULL)
            same = table.c.kind == kind
            nan_first = sa.case(
                (sa.func.count() > sa.func.count(table.c.num), sa.null()), else_=agg(table.c.num)
            )
            num = sub(nan_first if asc else agg(table.c.num), same)
            text = sub(agg(table.c.text), same)
        if asc:
            return q, [kind.asc(), num.asc().nulls_first(), text.asc().nulls_first()]
        return q, [kind.desc(), num.desc().nulls_last(), text.desc().nulls_last()]

    def _row_to_result(self, row: Any, provenance: Mapping[int, Provenance]) -> Result:
        """Rebuild a Result from a row (validated when written, so not re-hashed here)."""
        body = json.loads(row[5])
        prov = provenance[row[6]]
        return Result.model_construct(
            model=row[0],
            version=row[1],
            inputs=self._decode(body.get("inputs", {}), "inputs"),
            outputs=self._decode(body.get("outputs", {}), "outputs"),
            inputs_hash=row[2],
            created=_created(row[3]),
            published=bool(row[4]),
            # a copy: the cached record is shared, the caller may change its result's files
            provenance=_own_copy(prov),
        )

    def _decode(self, value: dict[str, Any], path: str) -> dict[str, Any]:
        """Decode a stored dict; one of plain scalars (the common case) is used as it is."""
        if all(type(v) in _PLAIN_DECODED for v in value.values()):
            return value
        return self.codec.decode(value, path)

    def _provenance(self, conn: Any, ids: set[int]) -> dict[int, Provenance]:
        """Return the provenance records with these ids."""
        if not ids:
            return {}
        rows = conn.execute(sa.select(P.c.id, P.c.document).where(P.c.id.in_(sorted(ids))))
        return {i: Provenance(**json.loads(doc)) for i, doc in rows}

    _COLS = (
        R.c.model,
        R.c.version,
        R.c.inputs_hash,
        R.c.created_ms,
        R.c.published,
        R.c.document,
        R.c.provenance_id,
    )

    def find(
        self,
        model: str | None = None,
        filter: Mapping[str, Any] | None = None,
        sort: SortSpec = None,
        limit: int | None = None,
        include_unpublished: bool = False,
    ) -> list[Result]:
        """Return matching results, sorted (ties by inputs_hash) and limited."""
        order_spec = parse_sort(sort)
        n = check_limit(limit)
        with self._read() as conn:
            q, paths = self._select(
                conn, list(self._COLS), model, filter, include_unpublished, order_spec
            )
            order: list[Any] = []
            for i, (path, direction) in enumerate(order_spec):
                q, terms = self._order(q, path, direction, paths, i)
                order.extend(terms)
            q = q.order_by(*order, R.c.inputs_hash.asc())
            if n is not None:
                q = q.limit(n)
            rows = conn.execute(q).all()
            provenance = self._provenance(conn, {r[6] for r in rows})
        return [self._row_to_result(r, provenance) for r in rows]

    def find_one(self, inputs_hash: str, include_unpublished: bool = False) -> Result | None:
        """Return the result with this hash (if published, unless asked), or None."""
        inputs_hash = check_inputs_hash(inputs_hash)
        if self.kind != "sqlite":
            found = self.find(
                filter={"inputs_hash": inputs_hash}, include_unpublished=include_unpublished
            )
            return found[0] if found else None
        raw = self._raw_connection()
        sql = f"SELECT {_ROW_COLS} FROM {R.name} WHERE project = ? AND inputs_hash = ?"
        if not include_unpublished:
            sql += " AND published"
        with self._raw_errors():
            row = raw.execute(sql, (self.project, inputs_hash)).fetchone()
            if row is None:
                return None
            provenance = self._provenance_cached(raw, row[6])
        return self._row_to_result(row, {row[6]: provenance})

    @contextmanager
    def _raw_errors(self) -> Iterator[None]:
        """Turn errors of the raw SQLite connection (outside SQLAlchemy) into one lume error."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreUnavailableError(
                f"{self._where} is not usable ({str(exc).splitlines()[0]}); check LUME_RESULTS_URL."
            ) from None

    def _raw_connection(self) -> Any:
        """Return this thread's raw SQLite connection (autocommit: each SELECT is a snapshot)."""
        raw = getattr(self._local, "raw", None)
        if raw is None:
            with self._errors():
                raw = self.engine.raw_connection()
            self._local.raw = raw
            self._raw.append(raw)
        return raw

    def _provenance_cached(self, raw: Any, prov_id: int) -> Provenance:
        """Return a provenance record by id (content-addressed, so cached once read)."""
        cache = getattr(self._local, "provenance", None)
        if cache is None:
            cache = self._local.provenance = {}
        if prov_id not in cache:
            if len(cache) > 10_000:
                cache.clear()
            (doc,) = raw.execute(
                f"SELECT document FROM {P.name} WHERE id = ?", (prov_id,)
            ).fetchone()
            cache[prov_id] = Provenance(**json.loads(doc))
        return cache[prov_id]

    def count(
        self,
        model: str | None = None,
        filter: Mapping[str, Any] | None = None,
        include_unpublished: bool = False,
    ) -> int:
        """Return how many results match."""
        with self._read() as conn:
            q, _ = self._select(conn, [sa.func.count()], model, filter, include_unpublished)
            return int(conn.execute(q).scalar_one())

    def ensure_index(self, path: str) -> str:
        """Check `path`; every stored path is already in the typed index, so nothing to build."""
        check_path(path)
        return path

    def indexed_paths(self) -> list[str]:
        """Return every path stored so far (all are indexed), besides the fixed columns."""
        with self._read() as conn:
            paths = conn.execute(sa.select(PATHS.c.path).order_by(PATHS.c.path)).scalars().all()
        return sorted({*COLUMNS, *paths})

    def document_id(self, inputs_hash: str) -> str | None:
        """Return the row id of the result with this hash."""
        inputs_hash = check_inputs_hash(inputs_hash)
        if self.kind == "sqlite":
            sql = f"SELECT id FROM {R.name} WHERE project = ? AND inputs_hash = ?"
            with self._raw_errors():
                row = self._raw_connection().execute(sql, (self.project, inputs_hash)).fetchone()
            return None if row is None else str(row[0])
        q = sa.select(R.c.id).where(R.c.project == self.project, R.c.inputs_hash == inputs_hash)
        with self._read() as conn:
            value = conn.execute(q).scalar()
        return None if value is None else str(value)


def _compare(col: Any, op: str, value: Any) -> sa.ColumnElement[bool]:
    """Return `col op value` for a range operator."""
    return {
        "$gt": col > value,
        "$gte": col >= value,
        "$lt": col < value,
        "$lte": col <= value,
    }[op]
