"""`SqlResultStore`: results in SQL (SQLite embedded by default, PostgreSQL for deployments).

Design choice — a typed key/value index table, not JSON functions. Each result is one row of
``lume_results`` (columns for model, version, hash, created, published and the encoded document
as JSON text) plus one row of ``lume_result_fields`` per queryable value: (result id, dotted
path, kind, number, text, sort key), where kind is the value's BSON sort rank. Filters compile to
semi-joins on that table (``id IN (SELECT result_id ... WHERE path = ? AND kind = ? AND num >
?)``), served by B-tree indexes on (path, kind, number) and (path, kind, text).
Why not JSON functions (``json_extract`` / ``->>``)?

- they differ between SQLite and PostgreSQL in typing: ``json_extract`` returns native values,
  ``->>`` returns text that must be cast — and a cast fails on a row holding another type, while
  MongoDB simply does not match it. The typed table gives MongoDB's type-bracketed comparisons
  (``1 == 1.0``, ``true != 1``, ``"2" != 2``) with the same SQL on both databases;
- MongoDB's "a list matches if any element matches" needs ``json_each``/``jsonb_array_elements``
  (different on each database); here every list element is simply another row at the same path;
- indexing arbitrary dotted paths needs one expression index per path with JSON functions; the
  index table serves every path with the same few indexes, on SQLite as on PostgreSQL.

The cost is write amplification (one row per scalar), paid once per result, in the same
transaction as the document, so a reader never sees a document without its index rows.

Writes are upserts keyed by (project, inputs_hash) (``INSERT ... ON CONFLICT DO UPDATE``, both
databases), with the index rows replaced in the same transaction. SQLite writers take the lock
up front (``BEGIN IMMEDIATE``, WAL journal, busy timeout) so concurrent writers queue instead of
failing. Strings are compared by bytes (``COLLATE "C"`` on PostgreSQL), as MongoDB does.
Limits (documented in the README): integers beyond 2**53 compare as float64; strings longer
than 1024 bytes (UTF-8) or paths longer than 500 bytes are stored but not indexed, so they
cannot be queried here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
from lume_assets.storage.encoding import DEFAULT_ARRAY_THRESHOLD, Codec
from lume_assets.storage.filesystems import LocalFilesystem
from lume_assets.storage.query import (
    ARRAY,
    DATE,
    NULL,
    STRING,
    Condition,
    Leaf,
    check_limit,
    datetime_ms,
    iter_leaves,
    parse_filter,
    parse_sort,
    scalar_kind,
)
from lume_assets.storage.result_stores import ResultStore, SortSpec, created_from_ms
from lume_assets.storage.results import Result, check_inputs_hash, check_inputs_hashes
from lume_assets.storage.urls import mask_url

MAX_INDEXED_TEXT = 1024  # bytes of UTF-8
MAX_PATH_BYTES = 500
BATCH = 500


def _bytes_text(length: int | None = None) -> sa.types.TypeEngine:
    """A string type compared by bytes on every database (COLLATE "C" on PostgreSQL)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


metadata = sa.MetaData()
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
    sa.Column("document", sa.Text, nullable=False),
    sa.UniqueConstraint("project", "inputs_hash", name="uq_lume_results_hash"),
    sa.Index("ix_lume_results_model", "project", "model", "created_ms"),
)
fields_table = sa.Table(
    "lume_result_fields",
    metadata,
    sa.Column(
        "result_id",
        sa.Integer,
        sa.ForeignKey("lume_results.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("path", _bytes_text(500), nullable=False),
    sa.Column("kind", sa.SmallInteger, nullable=False),
    sa.Column("num", sa.Double, nullable=True),
    sa.Column("text", _bytes_text(), nullable=True),
    sa.Column("skey", _bytes_text(), nullable=False),
    sa.Index("ix_lume_fields_num", "path", "kind", "num", "result_id"),
    sa.Index("ix_lume_fields_text", "path", "kind", "text", "result_id"),
    sa.Index("ix_lume_fields_owner", "result_id", "path", "skey"),
)
R, F = results_table, fields_table
# Top-level paths are columns of fixed kind: compared directly, no index rows needed.
COLUMNS = {
    "model": (R.c.model, STRING),
    "version": (R.c.version, STRING),
    "inputs_hash": (R.c.inputs_hash, STRING),
    "created": (R.c.created_ms, DATE),
}


def _indexable(leaf: Leaf) -> bool:
    """Whether a leaf fits the index (PostgreSQL B-tree entries are limited to ~2.7 kB)."""
    if len(leaf.path.encode()) > MAX_PATH_BYTES:
        return False
    return leaf.text is None or len(leaf.text.encode()) <= MAX_INDEXED_TEXT


def _leaf_value(value: Any) -> tuple[str, Any]:
    """Return (column name, column value) holding a scalar operand."""
    kind = scalar_kind(value)
    if kind == STRING:
        return "text", value
    if kind == DATE:
        return "num", datetime_ms(value)
    return "num", float(value)


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
        with self._errors():
            metadata.create_all(self.engine)

    # -- plumbing ------------------------------------------------------------------------------
    def _make_engine(self) -> sa.Engine:
        """Create the engine; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE writers."""
        if self.kind == "postgresql":
            return sa.create_engine(
                self.url,
                connect_args={"connect_timeout": max(1, math.ceil(self.timeout_s))},
                pool_pre_ping=True,
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
        """Dispose of the engine's connections."""
        self.engine.dispose()

    # -- writes --------------------------------------------------------------------------------
    def put(self, result: Result) -> str:
        """Upsert one result by inputs hash; return its row id."""
        self.put_many([result])
        doc_id = self.document_id(result.inputs_hash)
        assert doc_id is not None
        return doc_id

    def put_many(self, results: Iterable[Result]) -> int:
        """Upsert results in batches, one transaction per batch; return how many."""
        total, batch = 0, []
        for result in results:
            batch.append(result)
            if len(batch) >= BATCH:
                total += self._write_batch(batch)
                batch = []
        if batch:
            total += self._write_batch(batch)
        return total

    def put_chunk(self, results: Sequence[Result]) -> int:
        """Write a chunk of results in ONE transaction: readers see all of it or none."""
        return self._write_batch(list(results)) if results else 0

    def _write_batch(self, results: list[Result]) -> int:
        """Upsert a batch: documents, then their index rows, in one transaction."""
        latest = {r.inputs_hash: r for r in results}  # a hash twice in a batch: last wins
        rows, leaves = [], {}
        for h in sorted(latest):  # a fixed order: concurrent batches cannot deadlock
            r = latest[h]
            doc = self.to_document(r)
            body = {
                "inputs": doc["inputs"],
                "outputs": doc["outputs"],
                "provenance": doc["provenance"],
            }
            rows.append(
                {
                    "project": self.project,
                    "inputs_hash": h,
                    "model": r.model,
                    "version": r.version,
                    "created_ms": datetime_ms(r.created),
                    "published": r.published,
                    "document": json.dumps(body, allow_nan=True, separators=(",", ":")),
                }
            )
            leaves[h] = [
                leaf
                for root in ("inputs", "outputs", "provenance")
                for leaf in iter_leaves(body[root], root)
                if _indexable(leaf)
            ]
        stmt = self._insert(R)
        stmt = stmt.on_conflict_do_update(
            index_elements=[R.c.project, R.c.inputs_hash],
            set_={
                **{c: stmt.excluded[c] for c in ("model", "version", "created_ms", "document")},
                # published is sticky: a re-run, retry or held copy never unpublishes a result
                "published": sa.or_(R.c.published, stmt.excluded.published),
            },
        )
        with self._write() as conn:
            conn.execute(stmt, rows)
            ids = dict(
                conn.execute(
                    sa.select(R.c.inputs_hash, R.c.id).where(
                        R.c.project == self.project, R.c.inputs_hash.in_(list(latest))
                    )
                ).all()
            )
            conn.execute(sa.delete(F).where(F.c.result_id.in_(list(ids.values()))))
            field_rows = [
                {
                    "result_id": ids[h],
                    "path": leaf.path,
                    "kind": leaf.kind,
                    "num": leaf.num,
                    "text": leaf.text,
                    "skey": leaf.sort_key,
                }
                for h, hl in leaves.items()
                for leaf in hl
            ]
            if field_rows:
                conn.execute(sa.insert(F), field_rows)
        return len(results)

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
    def _condition(self, c: Condition) -> sa.ColumnElement[bool]:
        """Compile one checked condition to SQL with MongoDB's semantics."""
        if c.path in COLUMNS:
            return self._column_condition(c)

        def exists(*clauses: Any) -> sa.ColumnElement[bool]:
            # An uncorrelated IN (sub-select): the index finds the matching rows once (a
            # semi-join), instead of one probe per candidate result.
            return R.c.id.in_(sa.select(F.c.result_id).where(F.c.path == c.path, *clauses))

        def equals(values: Iterable[Any]) -> sa.ColumnElement[bool]:
            by_kind: dict[int, list[Any]] = {}
            for v in values:
                by_kind.setdefault(scalar_kind(v), []).append(v)
            parts: list[sa.ColumnElement[bool]] = []
            if NULL in by_kind:
                parts.append(sa.or_(exists(F.c.kind == NULL), ~exists()))
            matches = []
            for kind, vals in by_kind.items():
                if kind == NULL:
                    continue
                col_name = _leaf_value(vals[0])[0]
                matches.append(
                    sa.and_(F.c.kind == kind, F.c[col_name].in_([_leaf_value(v)[1] for v in vals]))
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
        col = F.c[col_name]
        cmp = {"$gt": col > value, "$gte": col >= value, "$lt": col < value, "$lte": col <= value}
        return exists(F.c.kind == scalar_kind(c.value), cmp[c.op])

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
        return {
            "$gt": col > same[0],
            "$gte": col >= same[0],
            "$lt": col < same[0],
            "$lte": col <= same[0],
        }[c.op]

    def _select(
        self,
        columns: list[Any],
        model: str | None,
        filter: Mapping[str, Any] | None,
        include_unpublished: bool,
    ) -> sa.Select:
        """Return a SELECT of `columns` over the matching results."""
        conditions = parse_filter(filter)
        q = sa.select(*columns).where(R.c.project == self.project)
        if model is not None:
            q = q.where(R.c.model == model)
        if not include_unpublished:
            q = q.where(R.c.published.is_(True))
        for c in conditions:
            q = q.where(self._condition(c))
        return q

    def _order(self, path: str, direction: int) -> sa.ColumnElement[Any]:
        """Return the ORDER BY term for a path in MongoDB order (lists: min asc, max desc)."""
        if path in COLUMNS:
            col = COLUMNS[path][0]
            return col.asc() if direction == 1 else col.desc()
        agg = sa.func.min if direction == 1 else sa.func.max
        key = (
            sa.select(agg(F.c.skey))
            .where(F.c.result_id == R.c.id, F.c.path == path, F.c.kind != ARRAY)
            .scalar_subquery()
        )
        key = sa.func.coalesce(key, f"{NULL:02d}")  # missing sorts as null
        return key.asc() if direction == 1 else key.desc()

    def _row_to_result(self, row: Any) -> Result:
        """Rebuild a Result from a joined row."""
        body = json.loads(row.document)
        return self.from_document(
            {
                **body,
                "model": row.model,
                "version": row.version,
                "inputs_hash": row.inputs_hash,
                "created": created_from_ms(row.created_ms),
                "published": row.published,
            }
        )

    _COLS = (R.c.model, R.c.version, R.c.inputs_hash, R.c.created_ms, R.c.published, R.c.document)

    def find(
        self,
        model: str | None = None,
        filter: Mapping[str, Any] | None = None,
        sort: SortSpec = None,
        limit: int | None = None,
        include_unpublished: bool = False,
    ) -> list[Result]:
        """Return matching results, sorted (ties by inputs_hash) and limited."""
        q = self._select(list(self._COLS), model, filter, include_unpublished)
        order = [self._order(p, d) for p, d in parse_sort(sort)]
        q = q.order_by(*order, R.c.inputs_hash.asc())
        n = check_limit(limit)
        if n is not None:
            q = q.limit(n)
        with self._read() as conn:
            rows = conn.execute(q).all()
        return [self._row_to_result(r) for r in rows]

    def find_one(self, inputs_hash: str, include_unpublished: bool = False) -> Result | None:
        """Return the result with this hash (if published, unless asked), or None."""
        inputs_hash = check_inputs_hash(inputs_hash)
        q = sa.select(*self._COLS).where(
            R.c.project == self.project, R.c.inputs_hash == inputs_hash
        )
        if not include_unpublished:
            q = q.where(R.c.published.is_(True))
        with self._read() as conn:
            row = conn.execute(q).first()
        return None if row is None else self._row_to_result(row)

    def count(
        self,
        model: str | None = None,
        filter: Mapping[str, Any] | None = None,
        include_unpublished: bool = False,
    ) -> int:
        """Return how many results match."""
        q = self._select([sa.func.count()], model, filter, include_unpublished)
        with self._read() as conn:
            return int(conn.execute(q).scalar_one())

    def document_id(self, inputs_hash: str) -> str | None:
        """Return the row id of the result with this hash."""
        inputs_hash = check_inputs_hash(inputs_hash)
        q = sa.select(R.c.id).where(R.c.project == self.project, R.c.inputs_hash == inputs_hash)
        with self._read() as conn:
            value = conn.execute(q).scalar()
        return None if value is None else str(value)
