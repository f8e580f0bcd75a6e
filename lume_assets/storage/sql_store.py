"""`SqlResultStore`: results in SQL (SQLite embedded by default, PostgreSQL for deployments).

Layout — typed columns per key layout, a typed key/value index for the rest, not JSON
functions:

- ``lume_results``: one row per result (project, inputs hash, model, version, created,
  published, a provenance id, a shape id, and a JSON document holding what no shape column
  holds — empty for a plain scan point). New SQLite files hold the sha256 as 32 raw bytes
  (``BLOB``); PostgreSQL and files written before keep the 64-char hex text.
- ``lume_shapes`` + ``lume_shape_<id>``: a *shape* is a key layout — the ordered keys of
  inputs and outputs (a scan's points all share one). Its table has a row per result
  (``result_id INTEGER PRIMARY KEY``, the rowid on SQLite) and a column per key whose first
  non-null value was a float, int, bool or string (``REAL``/``DOUBLE PRECISION`` or ``TEXT``),
  with ONE index per column: each scalar is written to one B-tree, as in a plain table with a
  column and an index per value. A value a column cannot hold exactly — another type, NaN,
  -0.0 (a REAL column stores integral floats as integers), ints beyond 2**53, a NUL or a string
  over the index limit, None — stays in the document and the general index below (the column
  is NULL); keys holding lists or dicts never get a column. The layout, stored as JSON, keeps
  the key order, so a result reads back with its keys in their order and every value with its
  type. At most `MAX_SHAPES` shapes of `MAX_SHAPE_COLUMNS` columns; beyond that, results keep
  the general layout.
- ``lume_result_fields``: the general typed index, one row per queryable value the shape
  columns do not hold (result id, path id, seq, kind, number, text), kind being the value's
  BSON sort rank. On SQLite a ``WITHOUT ROWID`` table clustered by (result id, path id, seq);
  a second B-tree on (path id, kind, number, result id) serves equality and ranges, a partial
  one on (path id, kind, text, result id) strings. Lists add one row per element.
- ``lume_paths``: dotted path -> small integer id, with a ``multi`` flag set once any result
  held a list at that path.
- ``lume_provenance`` + ``lume_provenance_fields``: provenance documents stored once per
  distinct content (a scan chunk's points share their run, asset, partition and code), with
  the same typed index; a result points at its provenance by id.

Why shapes (measured with ``bench/store_bench.py``, focus model, 100k results, SQLite): the
previous layout (everything in the document + the general index) took 683 B a result and
wrote each indexed value to two B-trees (the clustered index rows and the (path, kind, num)
index), so its SQL alone cost ~2× a plain table's. With shape tables and the raw hash: 315 B
a result (plain table with equal indexes: 506 B), range + sort + limit and count drive from
one column index and sort by a joined column (0.6× plain), and `put_many` writes two rows per
result (result + shape) where a plain table writes one. A single wide results table with
generic "slot" columns was tried and measured slower to fill (137 ms vs 115 ms for 10k rows)
because every slot index is then updated on the big row.

Filters compile to semi-joins: ``id IN (SELECT result_id FROM lume_shape_<n> WHERE c<i> >= ?
AND c<i> < ?  UNION ALL  SELECT owner_id FROM lume_result_fields WHERE path_id = ? AND kind =
? AND num >= ? ...)`` — one part per shape holding the path in a column of the operand's kind,
one for the general index if any result holds the path there; each part uses its index.
Bounds on one path are merged into one such condition when the path never held a list
(MongoDB matches each bound against any element of a list, so for list paths they stay
separate). Sorting left-joins the shape tables holding the path by result id and the general
index row (one per result for a path that never held a list), taking the kind, number and text
from whichever holds the value (a result's value is in exactly one place), and falls back to
min/max aggregates for list paths; a path held by one shape column sorts by that column alone,
and one held by more than `MAX_SORT_JOINS` shapes looks each row's value up through its shape
id instead of joining every table (SQLite joins at most 64 tables).
After bulk writes the store runs ``ANALYZE`` (SQLite with an analysis limit) when the table
has grown, so the planner drives range filters from the right index.

Databases written by the previous layout (no ``shape_id``) are brought to this one on open
in one write transaction (``BEGIN IMMEDIATE`` on SQLite, so concurrent openers queue): the
column and ``lume_shapes`` are added, nothing is rewritten — their rows keep the whole
document and their general index rows, and are read and queried as they are (a rewrite of one
such result moves it to a shape). Their hashes stay text.

Why not JSON functions (``json_extract`` / ``->>``)?

- they differ between SQLite and PostgreSQL in typing: ``json_extract`` returns native values,
  ``->>`` returns text that must be cast — and a cast fails on a row holding another type, while
  MongoDB simply does not match it. The typed table gives MongoDB's type-bracketed comparisons
  (``1 == 1.0``, ``true != 1``, ``"2" != 2``) with the same SQL on both databases;
- MongoDB's "a list matches if any element matches" needs ``json_each``/``jsonb_array_elements``
  (different on each database); here every list element is simply another row at the same path;
- indexing arbitrary dotted paths needs one expression index per path with JSON functions; the
  index table serves every path with the same few indexes, on SQLite as on PostgreSQL.

Writes are upserts keyed by (project, inputs_hash); a ``put_many`` call is one transaction,
written in statements of `BATCH` rows, and the shape and index rows of results that existed
before are replaced in it, so a reader never sees a document without its index rows. SQLite
writers take the lock up front (``BEGIN IMMEDIATE``, WAL journal, busy timeout) so concurrent
writers queue instead of failing; they give ids themselves and insert with ``ON CONFLICT DO
NOTHING``, reading the existing rows only when some were there. PostgreSQL writers upsert
(``ON CONFLICT DO UPDATE ... RETURNING``) and create new shapes in digest order (no deadlock
between writers of two new layouts).

The write path is kept to a few dict lookups and two lists per result (its result row and its
shape row, sent to the driver as they are): keys are checked once per key layout, a shape's
values are checked by a function generated once per shape (straight-line type checks, no
codec walk), a provenance record is encoded and hashed once per distinct object, and the cyclic
garbage collector is paused for the loop (it allocates small acyclic containers; a full
collection of the caller's heap would otherwise be charged to the write).

Durability: WAL with ``synchronous=NORMAL`` — a committed batch survives a crash of the
writing process (the WAL holds it before COMMIT returns); an OS crash or power loss
can roll back the last commits but never corrupts the file (``FULL`` would add an fsync to
every commit). Each connection gets 32 MiB of page cache so a bulk transaction's dirty index
pages are not spilled to the WAL and re-read mid-transaction. Strings are compared
by bytes (``COLLATE "C"`` on PostgreSQL), as MongoDB does. Limits (documented in the README):
integers beyond 2**53 compare as float64; strings longer than 1024 bytes (UTF-8) or paths longer
than 500 bytes are stored but not indexed, so they cannot be queried here.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from sqlalchemy.exc import DatabaseError as DBError

from lume_assets.errors import (
    ConfigError,
    ResultNotFoundError,
    ResultStoreError,
    StoreUnavailableError,
)
from lume_assets.storage.blobs import HDF5BlobStore
from lume_assets.storage.encoding import DEFAULT_ARRAY_THRESHOLD, Codec, check_key, check_text
from lume_assets.storage.filesystems import LocalFilesystem
from lume_assets.storage.gc_pause import no_cyclic_gc
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
    construct_model,
)
from lume_assets.storage.urls import mask_url

MAX_INDEXED_TEXT = 1024  # bytes of UTF-8
MAX_PATH_BYTES = 500
BATCH = 5000  # rows per statement; a put_many call is one transaction
RANGES = ("$gt", "$gte", "$lt", "$lte")
# SQLite files set up by this process -> whether they hold hashes as raw bytes
_PREPARED: dict[tuple[str, int, int, int], bool] = {}


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


class _Blob(sa.types.UserDefinedType):
    """A BLOB column passed through as it is (bytes in, bytes out; no driver processing)."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        """Return the column type."""
        return "BLOB"


results_table = sa.Table(
    "lume_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", _bytes_text(200), nullable=False),
    # SQLite: the sha256 as 32 raw bytes (files written by older versions keep 64-char text)
    sa.Column("inputs_hash", _bytes_text(64).with_variant(_Blob(), "sqlite"), nullable=False),
    sa.Column("model", _bytes_text(200), nullable=False),
    sa.Column("version", _bytes_text(200), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("published", sa.Boolean, nullable=False),
    sa.Column("provenance_id", sa.Integer, nullable=False),
    # inputs/outputs JSON; for a result with a shape only the values its columns do not hold
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("shape_id", sa.Integer, nullable=True),  # added to older databases on open
    sa.UniqueConstraint("project", "inputs_hash", name="uq_lume_results_hash"),
    sa.Index("ix_lume_results_model", "project", "model", "created_ms"),
)
shapes_table = sa.Table(
    "lume_shapes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", _bytes_text(64), nullable=False, unique=True),  # of the key lists
    sa.Column("layout", sa.Text, nullable=False),
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
R, F, P, PF, PATHS, SHAPES = (
    results_table,
    fields_table,
    provenance_table,
    provenance_fields_table,
    paths_table,
    shapes_table,
)
# Top-level paths are columns of fixed kind: compared directly, no index rows needed.
COLUMNS = {
    "model": (R.c.model, STRING),
    "version": (R.c.version, STRING),
    "inputs_hash": (R.c.inputs_hash, STRING),
    "created": (R.c.created_ms, DATE),
}
_REPLACED = (
    "model",
    "version",
    "created_ms",
    "published",
    "provenance_id",
    "document",
    "shape_id",
)
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
_ROW_COLS = (
    "id, model, version, inputs_hash, created_ms, published, provenance_id, document, shape_id"
)
_FIND_ONE_COLS = ", ".join(f"r.{c}" for c in _ROW_COLS.split(", "))
_HASH = re.compile("[0-9a-f]{64}")
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


def _hex(value: str | bytes) -> str:
    """Return a stored inputs hash as 64-char hex (SQLite files of this layout hold bytes)."""
    return value if type(value) is str else value.hex()


def _created(ms: int) -> datetime:
    """Return the UTC datetime of milliseconds since the epoch (exact to the millisecond)."""
    value = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if value.microsecond % 1000:  # float rounding (never seen within years 1-9999)
        return created_from_ms(ms)
    return value


def _own_copy(provenance: Provenance) -> Provenance:
    """Return a copy of a cached provenance record with its own files dict."""
    values = dict(provenance.__dict__)
    values["files"] = dict(provenance.files)
    copied = construct_model(Provenance, values)
    object.__setattr__(copied, "__pydantic_fields_set__", set(provenance.model_fields_set))
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


# Values a document holds exactly as they are (the codec would return them unchanged): a flat
# dict of only these is stored without walking it through the codec.
_AS_IS = frozenset({float, np.float64, bool, type(None)})
_INT64 = (-(2**63), 2**63 - 1)


# Shape column kinds: the letter stored in a layout -> the MongoDB kind its values have.
_COLUMN_KINDS = {"f": NUMBER, "i": NUMBER, "b": BOOL, "s": STRING}
_RESIDUAL = "r"  # a key whose values always stay in the document (lists, dicts, None, ...)
MAX_SHAPE_COLUMNS = 64
MAX_SHAPES = 256
MAX_SORT_JOINS = 8  # shape tables a sort joins; more are looked up through the row's shape id
_EXACT_INT = 2**53  # integers a DOUBLE column holds exactly


def _kind_letter(value: Any) -> str:
    """Return the shape column kind of a stored value ('r': not held in a column)."""
    t = type(value)
    if t is float or t is np.float64:
        return "f"
    if t is int:
        return "i"
    if t is bool:
        return "b"
    if t is str:
        return "s"
    return _RESIDUAL


def _column_value(kind: str, value: Any) -> Any:
    """Return `value` as its shape column holds it, or None when the document must hold it.

    Floats other than NaN and -0.0 (a REAL column keeps neither), integers a double holds
    exactly, booleans as 0.0/1.0, indexable strings without NUL; the rest keeps its type in
    the document and its typed index rows in the general index.
    """
    t = type(value)
    if kind == "f":
        if (t is float or t is np.float64) and value == value:
            if value or math.copysign(1.0, value) > 0:
                return float(value)
    elif kind == "i":
        if t is int and -_EXACT_INT <= value <= _EXACT_INT:
            return value
    elif kind == "s":
        if (
            t is str
            and "\x00" not in value
            and (len(value) * 4 <= MAX_INDEXED_TEXT or _fits(value))
        ):
            return value
    elif kind == "b" and t is bool:
        return 1.0 if value else 0.0
    return None


_UNSEEN: Any = object()  # a key layout this process has not looked up yet
_FROM_COLUMN = {"f": float, "i": int, "b": bool, "s": str}


@dataclass(frozen=True)
class _Shape:
    """A key layout of inputs/outputs: results with it keep their scalars in its own table.

    `spec` is ((root, ((key, kind letter, column index or -1), ...)), ...) for "inputs" then
    "outputs", in the results' key order; the table is ``lume_shape_<id>`` (result_id, c0,
    c1, ...), one index per column.
    """

    id: int
    spec: tuple[tuple[str, tuple[tuple[str, str, int], ...]], ...]
    ncols: int

    @property
    def name(self) -> str:
        """Return the table name."""
        return f"lume_shape_{self.id}"

    @property
    def table(self) -> sa.TableClause:
        """Return the table as a lightweight clause (result_id, c0, c1, ...)."""
        return sa.table(
            self.name,
            sa.column("result_id"),
            *(sa.column(f"c{i}") for i in range(self.ncols)),
        )

    @classmethod
    def parse(cls, shape_id: int, layout: str) -> _Shape:
        """Build a shape from its stored layout {"inputs": [[key, kind], ...], ...}."""
        spec = []
        col = 0
        for root, items in json.loads(layout).items():
            keys = []
            for key, kind in items:
                if kind == _RESIDUAL:
                    keys.append((key, kind, -1))
                else:
                    keys.append((key, kind, col))
                    col += 1
            spec.append((root, tuple(keys)))
        return cls(shape_id, tuple(spec), col)

    @functools.cached_property
    def fast(self) -> Callable[[dict, dict, Any], list[Any] | None] | None:
        """Return fast(inputs, outputs, result_id) -> the shape row, or None when some value
        needs the general path (another type, NaN, -0.0, ...); None for a shape with keys
        that no column holds.

        Generated once per shape: straight-line checks per column (the common case of a
        scan point costs a few bytecodes per value instead of a loop over the layout).
        """
        if any(kind == _RESIDUAL for _root, items in self.spec for _k, kind, _c in items):
            return None
        lines = ["def fast(ins, outs, rid):"]
        names: dict[str, Any] = {
            "_float": float,
            "_np64": np.float64,
            "_int": int,
            "_str": str,
            "_bool": bool,
            "_E": _EXACT_INT,
            "_T": MAX_INDEXED_TEXT,
        }
        values = []
        for (_root, items), arg in zip(self.spec, ("ins", "outs"), strict=True):
            for key, kind, col in items:
                v, k = f"v{col}", f"_k{col}"
                names[k] = key  # keys are data, never spliced into the source
                values.append(v)
                lines.append(f"    {v} = {arg}[{k}]")
                if kind == "f":
                    lines += [
                        f"    if {v}.__class__ is not _float:",
                        f"        if {v}.__class__ is not _np64: return None",
                        f"        {v} = _float({v})",
                        f"    if {v} != {v} or not {v}: return None",
                    ]
                elif kind == "i":
                    lines.append(
                        f"    if {v}.__class__ is not _int or not -_E <= {v} <= _E: return None"
                    )
                elif kind == "s":
                    lines.append(
                        f"    if {v}.__class__ is not _str or not {v}.isascii() or "
                        f"len({v}) > _T or '\\x00' in {v}: return None"
                    )
                else:  # "b"
                    lines += [
                        f"    if {v}.__class__ is not _bool: return None",
                        f"    {v} = 1.0 if {v} else 0.0",
                    ]
        lines.append(f"    return [rid, {', '.join(values)}]")
        # every name a default argument: read as a local, not looked up per call
        lines[0] = f"def fast(ins, outs, rid, *, {', '.join(f'{n}={n}' for n in names)}):"
        exec("\n".join(lines), names)  # noqa: S102 - generated from the layout's kinds only
        return names["fast"]

    @functools.cached_property
    def read(self) -> Callable[[Sequence[Any]], tuple[dict, dict] | None] | None:
        """Return read(row) -> (inputs, outputs) from a shape row whose columns hold every
        value (None when some column is NULL: the document holds that value); None for a
        shape with keys that no column holds. Generated once per shape like `fast`."""
        if self.fast is None:
            return None
        names: dict[str, Any] = {"_int": int}
        parts = []
        for _root, items in self.spec:
            entries = []
            for key, kind, col in items:
                names[f"_k{col}"] = key
                value = f"row[{col + 1}]"
                if kind == "i":
                    value = f"_int({value})"
                elif kind == "b":
                    value = f"{value} != 0"
                entries.append(f"_k{col}: {value}")
            parts.append("{" + ", ".join(entries) + "}")
        args = ", ".join(f"{n}={n}" for n in names)
        source = (
            f"def read(row, *, {args}):\n"
            "    if None in row: return None\n"
            f"    return {parts[0]}, {parts[1]}"
        )
        exec(source, names)  # noqa: S102 - generated from the layout's kinds only
        return names["read"]

    def columns(self) -> Iterator[tuple[str, str, int]]:
        """Yield (path, kind letter, column index) of every column."""
        for root, items in self.spec:
            for key, kind, col in items:
                if col >= 0:
                    yield f"{root}.{key}", kind, col

    def body(self, values: Sequence[Any], residual: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Rebuild [inputs, outputs] from a row (result_id, c0, ...) and the residual document."""
        out = []
        for root, items in self.spec:
            rest = residual.get(root, {})
            d: dict[str, Any] = {}
            for key, kind, col in items:
                v = values[col + 1] if col >= 0 else None
                d[key] = rest[key] if v is None else _FROM_COLUMN[kind](v)
            out.append(d)
        return out


def _shape_layout(keys: tuple[tuple[str, ...], tuple[str, ...]], bodies: list[dict]) -> str:
    """Return the layout of a new shape: each key's kind taken from its first non-null value."""
    layout: dict[str, list[list[str]]] = {}
    ncols = 0
    for root, names in zip(("inputs", "outputs"), keys, strict=True):
        items = layout[root] = []
        for key in names:
            kind = _RESIDUAL
            for body in bodies:
                value = body[root][key]
                if value is not None:
                    kind = _kind_letter(value)
                    break
            if kind != _RESIDUAL and (
                ncols >= MAX_SHAPE_COLUMNS or len(f"{root}.{key}".encode()) > MAX_PATH_BYTES
            ):
                kind = _RESIDUAL
            ncols += kind != _RESIDUAL
            items.append([key, kind])
    return _dumps(layout) if ncols else ""


def _layout_digest(keys: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    """Return the sha256 hex digest that names a key layout in ``lume_shapes``."""
    return hashlib.sha256(_dumps([list(keys[0]), list(keys[1])]).encode()).hexdigest()


_Columns = dict[str, list[tuple[sa.TableClause, sa.ColumnClause[Any], int]]]


@dataclass
class _Paths:
    """Path ids and list flags of the paths one query uses (read in the query's transaction),
    and the shape columns holding each path."""

    ids: dict[str, int] = field(default_factory=dict)
    multi: set[str] = field(default_factory=set)
    columns: _Columns = field(default_factory=dict)
    shapes: dict[int, _Shape] = field(default_factory=dict)


@dataclass
class _Tx:
    """What one write transaction created (cached by the store once it commits)."""

    paths: _PathIds = field(default_factory=dict)
    shapes: dict[tuple[tuple[str, ...], tuple[str, ...]], _Shape | None] = field(
        default_factory=dict
    )


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
        # committed shapes (immutable once committed): by id, and by key lists
        self._shapes: dict[int, _Shape] = {}
        self._shape_of: dict[tuple[tuple[str, ...], tuple[str, ...]], _Shape | None] = {}
        self._columns: _Columns = {}
        self._shape_lock = threading.Lock()
        ready = self._ready_key()
        if ready is None or ready not in _PREPARED:
            with self._errors():
                raw_hash = self._check_layout()
            if ready is not None:
                _PREPARED[ready] = raw_hash
        else:
            raw_hash = _PREPARED[ready]
        self._raw_hash = raw_hash  # SQLite files of this layout hold the hash as 32 bytes

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
    def _check_layout(self) -> bool:
        """Create missing tables and bring an older database to this layout, in ONE write
        transaction (SQLite: BEGIN IMMEDIATE, so concurrent openers queue); return whether
        the database holds inputs hashes as raw bytes (new SQLite files).

        A database of the previous layout (no ``shape_id`` column) gets the column and the
        shape registry; its results stay as they are — documents with every value and typed
        index rows — and are read and queried as they are. The first layout (path text and a
        sort key per index row) is refused.
        """
        with self._read() as conn:  # the common case, without taking the write lock
            inspector = sa.inspect(conn)
            tables = set(inspector.get_table_names())
            first = F.name in tables and "skey" in {
                c["name"] for c in inspector.get_columns(F.name)
            }
            if set(metadata.tables) <= tables and not first:
                columns = {c["name"]: c for c in inspector.get_columns(R.name)}
                if "shape_id" in columns:
                    if self.kind != "sqlite":
                        return False
                    return str(columns["inputs_hash"]["type"]).upper() == "BLOB"
        with self._write() as conn:
            inspector = sa.inspect(conn)
            if inspector.has_table(F.name):
                if "skey" in {c["name"] for c in inspector.get_columns(F.name)}:
                    raise ConfigError(
                        f"{self._where} holds results in an older lume_assets layout "
                        f"({F.name} has a 'skey' column); use a new database file or name."
                    )
            metadata.create_all(conn)
            columns = {c["name"]: c for c in sa.inspect(conn).get_columns(R.name)}
            if "shape_id" not in columns:
                conn.exec_driver_sql(f"ALTER TABLE {R.name} ADD COLUMN shape_id INTEGER")
            if self.kind != "sqlite":
                return False
            return str(columns["inputs_hash"]["type"]).upper() == "BLOB"

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
        tx = _Tx()  # paths and shapes created by this transaction
        with self._write() as conn:
            batch: list[Result] = []
            for result in results:
                batch.append(result)
                if len(batch) >= BATCH:
                    total += self._write_batch(conn, batch, tx)
                    batch = []
            if batch:
                total += self._write_batch(conn, batch, tx)
        self._path_cache.update(tx.paths)  # cached once committed
        for keys, shape in tx.shapes.items():
            self._shape_of[keys] = shape
            if shape is not None:
                self._add_shape(shape)
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
        mark = "?" if self.kind == "sqlite" else "%s"
        row = conn.exec_driver_sql(  # one statement, new or not (a no-op update returns it)
            f"INSERT INTO {PATHS.name} (path, multi) VALUES ({mark}, false) "
            "ON CONFLICT (path) DO UPDATE SET path = excluded.path RETURNING id, multi",
            (path,),
        ).one()
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
        if self.kind == "sqlite":  # straight to the driver: rows may be lists
            sql = f"INSERT INTO {table.name} ({names}) VALUES ({template.replace('{}', '?')})"
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cur.executemany(sql + suffix, rows)
            except sqlite3.Error as exc:  # reported by _errors like SQLAlchemy's own
                error = OperationalError if isinstance(exc, sqlite3.OperationalError) else DBError
                raise error(sql, None, exc) from None
            finally:
                cur.close()
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

    def _write_batch(self, conn: sa.Connection, results: list[Result], tx: _Tx) -> int:
        """Upsert a batch: provenance, result rows, shape rows, then the general index rows.

        Per result this is a few dict lookups and two lists (its result row and its shape
        row, built once and sent as they are): provenance is encoded and hashed once per
        distinct record (a scan chunk's results share one object), `created` is converted once
        per distinct time, keys are checked once per key layout, and a result whose layout has
        a shape sends its scalars as one row of the shape's table without a codec walk — only
        what no column holds goes through the codec to the JSON document and the general index.
        The cyclic garbage collector is paused for the loop: it allocates a few small acyclic
        containers per result, and a full collection of the caller's heap (the batch itself)
        would otherwise be charged to the write (~15 % of it, measured).
        """
        latest = {r.inputs_hash: r for r in results}  # a hash twice in a batch: last wins
        hashes = sorted(latest)  # a fixed order: concurrent batches cannot deadlock
        sqlite = self.kind == "sqlite"
        # SQLite: ids are given here (the writer holds the lock); a row that turns out to
        # exist keeps its own id (see _sqlite_rows). PostgreSQL: from the upsert's RETURNING.
        next_id = (
            (conn.exec_driver_sql(f"SELECT max(id) FROM {R.name}").scalar() or 0) + 1
            if sqlite
            else None
        )
        provenance: dict[str, str] = {}  # digest -> JSON of the distinct records
        by_object: dict[int, str] = {}  # id(provenance) -> digest (objects live in `latest`)
        seen: dict[tuple[Any, ...], str] = {}  # equal records without files share a digest
        created: dict[datetime, float] = {}
        rows: list[list[Any]] = []  # [id, project, hash, model, ..., provenance digest, ...]
        shape_rows: dict[int, tuple[_Shape, list[list[Any]]]] = {}  # [id, c0, c1, ...]
        rests: dict[int, dict[str, Any]] = {}  # row index -> what the document holds
        pairs: list[tuple[list[Any], list[Any]]] = []  # PostgreSQL: (shape row, result row)
        known = self._shape_of
        convert = _column_value
        project = self.project
        to_key = bytes.fromhex if self._raw_hash else str
        last_keys: Any = None
        last_p: Any = None
        last_digest = ""
        last_when: Any = None
        ms = 0.0
        shape: _Shape | None = None
        fast: Any = None
        group: list[list[Any]] = []
        if not sqlite:  # concurrent writers: create new shapes in one order (no deadlock)
            firsts: dict[tuple[tuple[str, ...], tuple[str, ...]], Result] = {}
            for r in latest.values():
                firsts.setdefault((tuple(r.inputs), tuple(r.outputs)), r)
            for keys in sorted(firsts.keys() - tx.shapes.keys() - known.keys(), key=_layout_digest):
                body = {"inputs": firsts[keys].inputs, "outputs": firsts[keys].outputs}
                tx.shapes[keys] = self._shape_for(conn, keys, latest.values(), body)
        with no_cyclic_gc():
            for h in hashes:
                r = latest[h]
                p = r.provenance
                digest = last_digest if p is last_p else by_object.get(id(p))
                if digest is None:
                    # records with files or input files are each result's own: no lookup
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
                last_p, last_digest = p, digest
                when = r.created
                if when is not last_when:  # a scan chunk's results share one
                    ms = created.get(when)
                    if ms is None:
                        ms = created[when] = datetime_ms(when)
                    last_when = when
                ins, outs = r.inputs, r.outputs
                keys = (tuple(ins), tuple(outs))
                if keys != last_keys:  # a batch mostly holds one layout
                    shape = tx.shapes[keys] if keys in tx.shapes else known.get(keys, _UNSEEN)
                    if shape is _UNSEEN:
                        body = {"inputs": ins, "outputs": outs}
                        shape = self._shape_for(conn, keys, latest.values(), body)
                        tx.shapes[keys] = shape
                    last_keys = keys
                    if shape is not None:
                        fast = shape.fast
                        if shape.id not in shape_rows:
                            shape_rows[shape.id] = (shape, [])
                        group = shape_rows[shape.id][1]
                result_id = next_id
                if sqlite:
                    next_id += 1
                row = [
                    result_id,
                    project,
                    to_key(h),
                    r.model,
                    r.version,
                    ms,
                    r.published,
                    digest,
                    "",
                    None if shape is None else shape.id,
                ]
                rows.append(row)
                if shape is None:  # the general layout: the whole body, through the codec
                    rests[len(rows) - 1] = {
                        "inputs": self._flat(ins, "inputs", set(ins)),
                        "outputs": self._flat(outs, "outputs", set(outs)),
                    }
                    continue
                cells = fast(ins, outs, result_id) if fast is not None else None
                if cells is not None:  # every value in its column: the common case
                    group.append(cells)
                    if not sqlite:
                        pairs.append((cells, row))
                    continue
                cells = [result_id] + [None] * shape.ncols
                rest: dict[str, Any] | None = None
                for (root, items), value in zip(shape.spec, (ins, outs), strict=True):
                    left: list[str] | None = None
                    for key, kind, col in items:
                        item = value[key]
                        if col >= 0:
                            t = type(item)  # the common cases decided inline
                            if kind == "f" and t is float and item == item and item:
                                cells[col + 1] = item
                                continue
                            if kind == "i" and t is int and -_EXACT_INT <= item <= _EXACT_INT:
                                cells[col + 1] = item
                                continue
                            if kind == "s" and t is str and not item.isascii():
                                check_text(item, f"{root}.{key}")
                            stored = convert(kind, item)
                            if stored is not None:
                                cells[col + 1] = stored
                                continue
                        if left is None:
                            left = []
                        left.append(key)
                    if left is not None:  # the stored form of what no column holds
                        encoded = self._flat(value, root, set(value))
                        if rest is None:
                            rest = {}
                        rest[root] = {k: encoded[k] for k in left}
                if rest is not None:
                    rests[len(rows) - 1] = rest
                group.append(cells)
                if not sqlite:
                    pairs.append((cells, row))
        prov_ids = self._provenance_ids(conn, provenance, tx.paths)
        for row in rows:
            row[7] = prov_ids[row[7]]
        for i, rest in rests.items():
            rows[i][8] = _dumps(rest)
        if sqlite:
            moved = self._sqlite_rows(conn, rows)
            for _shape, cells_list in shape_rows.values() if moved else ():
                for cells in cells_list:
                    cells[0] = moved.get(cells[0], cells[0])
        else:
            ids = self._postgres_rows(conn, rows)
            for row in rows:
                row[0] = ids[_hex(row[2])]
            for cells, row in pairs:
                cells[0] = row[0]
        for shape, cells_list in shape_rows.values():
            names = ("result_id", *(f"c{i}" for i in range(shape.ncols)))
            self._bulk_insert(conn, shape.table, names, cells_list)
        general = {rows[i][0]: rest for i, rest in rests.items()}
        self._write_fields(conn, F, general, tx.paths)
        self._written += len(hashes)
        return len(results)

    def _shape_for(
        self,
        conn: sa.Connection,
        keys: tuple[tuple[str, ...], tuple[str, ...]],
        results: Iterable[Result],
        first: dict[str, Any],
    ) -> _Shape | None:
        """Check the keys of a key layout new to this process and return its shape, creating
        it (table + one index per column) if the database has none; a column's kind is that
        of the first non-null value among the first 100 `results` with these keys.

        None when no key holds a column value, or the database has MAX_SHAPES shapes already:
        such results keep the general layout.
        """
        for root, names in zip(("inputs", "outputs"), keys, strict=True):
            for key in names:
                check_key(key, root)
        digest = _layout_digest(keys)
        select = sa.select(SHAPES.c.id, SHAPES.c.layout).where(SHAPES.c.digest == digest)
        row = conn.execute(select).first()
        if row is not None:
            return _Shape.parse(row[0], row[1])
        if conn.execute(sa.select(sa.func.count()).select_from(SHAPES)).scalar_one() >= MAX_SHAPES:
            return None
        # kinds from the first results with these keys among the batch's first 1,000 (a batch
        # of many layouts must not cost a pass over the batch per layout)
        sample = [
            {"inputs": r.inputs, "outputs": r.outputs}
            for r in itertools.islice(results, 1000)
            if (tuple(r.inputs), tuple(r.outputs)) == keys
        ][:100] or [first]
        layout = _shape_layout(keys, sample)
        if not layout:
            return None
        inserted = conn.execute(
            self._insert(SHAPES)
            .on_conflict_do_nothing(index_elements=[SHAPES.c.digest])
            .returning(SHAPES.c.id),
            {"digest": digest, "layout": layout},
        ).first()
        if inserted is None:  # another writer created it meanwhile (PostgreSQL)
            row = conn.execute(select).one()
            return _Shape.parse(row[0], row[1])
        shape = _Shape.parse(inserted[0], layout)
        types = {"f": "REAL", "i": "REAL", "b": "REAL", "s": "TEXT"}
        if self.kind == "postgresql":
            types = {k: "DOUBLE PRECISION" for k in "fib"} | {"s": 'TEXT COLLATE "C"'}
        kinds = [kind for _path, kind, _col in shape.columns()]
        columns = ", ".join(f"c{i} {types[k]}" for i, k in enumerate(kinds))
        conn.exec_driver_sql(
            f"CREATE TABLE {shape.name} (result_id INTEGER PRIMARY KEY, {columns})"
        )
        owner = ", result_id" if self.kind == "postgresql" else ""  # SQLite: the rowid
        for i in range(shape.ncols):
            conn.exec_driver_sql(f"CREATE INDEX ix_{shape.name}_c{i} ON {shape.name} (c{i}{owner})")
        return shape

    def _add_shape(self, shape: _Shape) -> None:
        """Cache a committed shape and the paths its columns hold (columns first: a query
        that sees the shape sees its columns)."""
        with self._shape_lock:
            if shape.id in self._shapes:
                return
            table = shape.table
            for path, kind, col in shape.columns():
                self._columns.setdefault(path, []).append(
                    (table, table.c[f"c{col}"], _COLUMN_KINDS[kind])
                )
            self._shapes[shape.id] = shape

    def _load_shapes(self, conn: Any) -> None:
        """Cache the shapes committed since the last look (one small indexed read)."""
        top = max(self._shapes, default=0)
        sql = f"SELECT id, layout FROM {SHAPES.name} WHERE id > {int(top)} ORDER BY id"
        rows = (
            conn.exec_driver_sql(sql).all()
            if isinstance(conn, sa.Connection)
            else conn.execute(sql).fetchall()
        )
        for shape_id, layout in rows:
            self._add_shape(_Shape.parse(shape_id, layout))

    def _drop_stale(
        self, conn: sa.Connection, ids: list[int], shapes: Mapping[int, list[int]]
    ) -> None:
        """Delete the general index rows of results about to be rewritten, and their rows in
        the shape tables `shapes` (shape id -> result ids)."""
        for start in range(0, len(ids), BATCH):
            conn.execute(sa.delete(F).where(F.c.owner_id.in_(ids[start : start + BATCH])))
        for shape_id, owners in shapes.items():
            for start in range(0, len(owners), BATCH):
                listed = ", ".join(str(int(i)) for i in owners[start : start + BATCH])
                conn.exec_driver_sql(
                    f"DELETE FROM lume_shape_{int(shape_id)} WHERE result_id IN ({listed})"
                )

    def _postgres_rows(self, conn: sa.Connection, rows: list[tuple[Any, ...]]) -> dict[str, int]:
        """Upsert result rows on PostgreSQL (writers run concurrently); return hash -> id.

        Rows that existed (updated, not inserted: ``xmax <> 0``) lose their index rows and
        their rows in every shape table (another writer may have given them another shape).
        """
        returned = self._bulk_insert(
            conn,
            R,
            _RESULT_COLUMNS,
            [row[1:] for row in rows],
            _UPSERT + ", (xmax = 0) AS inserted",
        )
        updated = [i for _, i, inserted in returned if not inserted]
        if updated:
            shape_ids = conn.exec_driver_sql(f"SELECT id FROM {SHAPES.name}").scalars().all()
            self._drop_stale(conn, updated, dict.fromkeys(shape_ids, updated))
        return {h: i for h, i, _ in returned}

    def _sqlite_rows(self, conn: sa.Connection, rows: list[list[Any]]) -> dict[int, int]:
        """Write result rows (ids given) on SQLite; return {given id: id} of the rows that
        existed, which keep their own id (set in `rows` too).

        Inserted with ``ON CONFLICT DO NOTHING``: when every row went in (the common case:
        new results) nothing else is read. Otherwise the existing rows of the batch are read
        (the writer holds the lock, so they are all that exist), updated in place, and their
        general index rows and shape rows dropped.
        """
        raw = conn.connection.dbapi_connection
        before = raw.total_changes  # type: ignore[union-attr]
        self._bulk_insert(
            conn,
            R,
            ("id", *_RESULT_COLUMNS),
            rows,
            " ON CONFLICT (project, inputs_hash) DO NOTHING",
        )
        if raw.total_changes - before == len(rows):  # type: ignore[union-attr]
            return {}
        marks = ", ".join("?" * len(rows))
        found = conn.exec_driver_sql(
            f"SELECT inputs_hash, id, shape_id FROM {R.name} "
            f"WHERE project = ? AND inputs_hash IN ({marks})",
            (self.project, *(row[2] for row in rows)),
        ).all()
        stored = {h: (i, shape_id) for h, i, shape_id in found}
        moved: dict[int, int] = {}
        shapes: dict[int, list[int]] = {}
        updates = []
        for row in rows:
            result_id, shape_id = stored[row[2]]
            if result_id == row[0]:
                continue  # inserted now
            moved[row[0]] = row[0] = result_id
            updates.append((*row[3:], result_id))
            if shape_id is not None:
                shapes.setdefault(shape_id, []).append(result_id)
        sets = ", ".join(
            "published = (published OR ?)" if c == "published" else f"{c} = ?" for c in _REPLACED
        )
        conn.exec_driver_sql(f"UPDATE {R.name} SET {sets} WHERE id = ?", updates)
        self._drop_stale(conn, sorted(moved.values()), shapes)
        return moved

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
                ids = conn.exec_driver_sql(f"SELECT id FROM {SHAPES.name}").scalars().all()
                tables = [R.name, F.name, PF.name, *(f"lume_shape_{int(i)}" for i in ids)]
                conn.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
        self._analyzed_rows = rows

    def _key(self, inputs_hash: str) -> str | bytes:
        """Return a checked hash as the database holds it (raw bytes in new SQLite files)."""
        return bytes.fromhex(inputs_hash) if self._raw_hash else inputs_hash

    def publish(self, inputs_hash: str, published: bool = True) -> Result:
        """Set the published flag of a stored result."""
        inputs_hash = check_inputs_hash(inputs_hash)
        with self._write() as conn:
            n = conn.execute(
                sa.update(R)
                .where(R.c.project == self.project, R.c.inputs_hash == self._key(inputs_hash))
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
        hashes = [self._key(h) for h in check_inputs_hashes(inputs_hashes)]
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
        """Read the ids and list flags of `paths`, and the shapes, in the query's transaction."""
        wanted = sorted({p for p in paths if p not in COLUMNS})
        self._load_shapes(conn)
        found = _Paths(shapes=self._shapes)
        if wanted:
            rows = conn.execute(
                sa.select(PATHS.c.path, PATHS.c.id, PATHS.c.multi).where(PATHS.c.path.in_(wanted))
            ).all()
            found.ids = {p: i for p, i, _ in rows}
            found.multi = {p for p, _, m in rows if m}
            found.columns = {p: self._columns[p] for p in wanted if p in self._columns}
        return found

    @staticmethod
    def _index(path: str) -> tuple[sa.Table, sa.ColumnElement[Any]]:
        """Return the index table of a path and the results column its owner id matches."""
        if path.startswith("provenance."):
            return PF, R.c.provenance_id
        return F, R.c.id

    def _has(
        self, path: str, paths: _Paths, alternatives: list[tuple[int | None, Any]]
    ) -> sa.ColumnElement[bool]:
        """Return "the result holds a value at `path` matching one of `alternatives`".

        Each alternative is (kind, pred): a value of that kind (None: any value) for which
        pred(column) -> [clauses] holds (pred None: no clause). The holders are the general
        index rows of the path and the shape columns of that kind, as ONE uncorrelated
        ``IN (SELECT ... [UNION ALL SELECT ...])``: each part is answered by its own index.
        """
        table, owner = self._index(path)
        path_id = paths.ids.get(path)
        selects: list[sa.Select] = []
        for kind, pred in alternatives:
            if path_id is not None:
                where: list[Any] = [table.c.path_id == path_id]
                if kind is not None:
                    where.append(table.c.kind == kind)
                    if pred is not None:
                        where += pred(table.c.text if kind == STRING else table.c.num)
                selects.append(sa.select(table.c.owner_id).where(*where))
            for shape_table, col, col_kind in paths.columns.get(path, ()):
                if kind is None or (kind == col_kind and pred is None):
                    clauses = [col.isnot(None)]
                elif kind == col_kind:
                    clauses = pred(col)
                else:
                    continue
                selects.append(sa.select(shape_table.c.result_id).where(*clauses))
        if not selects:
            return sa.false()
        return owner.in_(selects[0] if len(selects) == 1 else sa.union_all(*selects))

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

            def pred(col: Any, group: list[Condition] = group) -> list[Any]:
                return [_compare(col, c.op, _leaf_value(c.value)[1]) for c in group]

            out.append(self._has(path, paths, [(kind, pred)]))
        return out

    def _condition(self, c: Condition, paths: _Paths) -> sa.ColumnElement[bool]:
        """Compile one checked condition on an indexed path with MongoDB's semantics."""
        if c.op in RANGES:
            _, value = _leaf_value(c.value)
            return self._has(
                c.path,
                paths,
                [(scalar_kind(c.value), lambda col: [_compare(col, c.op, value)])],
            )
        values = c.value if c.op == "$in" else (c.value,)
        by_kind: dict[int, list[Any]] = {}
        for v in values:
            by_kind.setdefault(scalar_kind(v), []).append(None if v is None else _leaf_value(v)[1])
        parts: list[sa.ColumnElement[bool]] = []
        if NULL in by_kind:  # null or missing
            parts.append(
                sa.or_(
                    self._has(c.path, paths, [(NULL, None)]),
                    sa.not_(self._has(c.path, paths, [(None, None)])),
                )
            )
        alternatives = [
            (kind, lambda col, vals=vals: [col.in_(vals)])
            for kind, vals in by_kind.items()
            if kind != NULL
        ]
        if alternatives:
            parts.append(self._has(c.path, paths, alternatives))
        matched = sa.or_(*parts) if parts else sa.false()
        return sa.not_(matched) if c.op == "$ne" else matched

    def _column_condition(self, c: Condition) -> sa.ColumnElement[bool]:
        """Compile a condition on a fixed-kind column (never missing, never null)."""
        col, kind = COLUMNS[c.path]
        values = c.value if c.op == "$in" else (c.value,)
        same = [_leaf_value(v)[1] for v in values if v is not None and scalar_kind(v) == kind]
        if c.path == "inputs_hash" and self._raw_hash:
            if c.op in RANGES:  # rare: compare the hex text (not indexed)
                col = sa.func.lower(sa.func.hex(col))
            else:  # a stored hash is 64 lowercase hex digits: nothing else can equal one
                same = [bytes.fromhex(v) for v in same if _HASH.fullmatch(v)]
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
        ascending and its largest descending. A result's value is in one place: a shape
        column (joined by result id) or the general index; (kind, number, text) take the
        first that holds it.
        """
        asc = direction == 1
        if path in COLUMNS:
            col = COLUMNS[path][0]
            return q, [col.asc() if asc else col.desc()]
        table, owner = self._index(path)
        kinds: list[Any] = []
        nums: list[Any] = []
        texts: list[Any] = []
        sources = paths.columns.get(path, [])
        if len(sources) <= MAX_SORT_JOINS:  # join each shape table by result id
            for j, (shape_table, col, col_kind) in enumerate(sources):
                s = shape_table.alias(f"sort_{n}_{j}")
                q = q.join_from(R, s, s.c.result_id == owner, isouter=True)
                value = s.c[col.name]
                kinds.append(sa.case((value.isnot(None), col_kind)))
                (texts if col_kind == STRING else nums).append(value)
        else:  # many shapes (a join holds at most 64 tables): one lookup by the row's shape
            for col_kind in sorted({k for _, _, k in sources}):
                value = sa.case(
                    *(
                        (
                            R.c.shape_id == int(t.name.rsplit("_", 1)[1]),
                            sa.select(col).where(t.c.result_id == owner).scalar_subquery(),
                        )
                        for t, col, k in sources
                        if k == col_kind
                    )
                )
                kinds.append(sa.case((value.isnot(None), col_kind)))
                (texts if col_kind == STRING else nums).append(value)
        path_id = paths.ids.get(path)
        if path_id is None:
            pass
        elif path not in paths.multi:  # at most one index row per owner: join it
            s = table.alias(f"sort_{n}")
            q = q.join_from(
                R, s, sa.and_(s.c.owner_id == owner, s.c.path_id == path_id), isouter=True
            )
            kinds.append(s.c.kind)
            nums.append(s.c.num)
            texts.append(s.c.text)
        else:  # lists: aggregate the smallest (ascending) or largest (descending) element
            agg = sa.func.min if asc else sa.func.max

            def sub(t: Any, expr: Any, *where: Any) -> Any:
                return (
                    sa.select(expr)
                    .where(t.c.owner_id == owner, t.c.path_id == path_id, t.c.kind != ARRAY, *where)
                    .correlate(R)
                    .scalar_subquery()
                )

            # the kind of the first/last element, from an alias: a subquery inside the value
            # subqueries below must not correlate to their table
            k = table.alias(f"sort_kind_{n}")
            first_kind = sub(k, agg(k.c.kind))
            same = table.c.kind == sa.func.coalesce(first_kind, NULL)
            nan_first = sa.case(
                (sa.func.count() > sa.func.count(table.c.num), sa.null()), else_=agg(table.c.num)
            )
            kinds.append(sub(table, agg(table.c.kind)))
            nums.append(sub(table, nan_first if asc else agg(table.c.num), same))
            texts.append(sub(table, agg(table.c.text), same))
        if not kinds:  # no result holds the path: all missing, all equal
            return q, []
        if len(kinds) == 1 and paths.columns.get(path):
            # one shape column holds every value of the path: one kind, missing is NULL
            value = (nums or texts)[0]
            return q, [value.asc().nulls_first() if asc else value.desc().nulls_last()]
        terms = [sa.func.coalesce(*kinds, NULL)]
        for parts in (nums, texts):
            if parts:
                terms.append(parts[0] if len(parts) == 1 else sa.func.coalesce(*parts))
        if asc:
            return q, [terms[0].asc(), *(t.asc().nulls_first() for t in terms[1:])]
        return q, [terms[0].desc(), *(t.desc().nulls_last() for t in terms[1:])]

    def _bodies(self, conn: Any, rows: Sequence[Any], shapes: Mapping[int, _Shape]) -> list[Any]:
        """Return [inputs, outputs] of each row (id, ..., document, shape_id at -2, -1)."""
        values: dict[int, Sequence[Any]] = {}
        by_shape: dict[int, list[int]] = {}
        for row in rows:
            if row[-1] is not None:
                by_shape.setdefault(row[-1], []).append(row[0])
        for shape_id, ids in by_shape.items():
            for start in range(0, len(ids), BATCH):
                listed = ", ".join(str(int(i)) for i in ids[start : start + BATCH])
                sql = f"SELECT * FROM lume_shape_{int(shape_id)} WHERE result_id IN ({listed})"
                found = (
                    conn.exec_driver_sql(sql).all()
                    if isinstance(conn, sa.Connection)
                    else conn.execute(sql).fetchall()
                )
                values.update((v[0], v) for v in found)
        if not by_shape.keys() <= shapes.keys():  # committed after the query's look (PostgreSQL)
            self._load_shapes(conn)
            shapes = self._shapes
        out = []
        for row in rows:
            doc = json.loads(row[-2]) if row[-2] else {}
            if row[-1] is None:
                out.append([doc.get("inputs", {}), doc.get("outputs", {})])
            else:
                out.append(shapes[row[-1]].body(values[row[0]], doc))
        return out

    def _row_to_result(
        self,
        row: Any,
        body: Sequence[dict[str, Any]],
        provenance: Mapping[int, Provenance],
        plain: bool = False,
    ) -> Result:
        """Rebuild a Result from a row and its body (validated when written, not re-hashed);
        `plain`: the body holds plain values only (read from shape columns), nothing to decode.
        """
        return construct_model(
            Result,
            {
                "model": row[1],
                "version": row[2],
                "inputs": body[0] if plain else self._decode(body[0], "inputs"),
                "outputs": body[1] if plain else self._decode(body[1], "outputs"),
                "inputs_hash": _hex(row[3]),
                "created": _created(row[4]),
                # a copy: the cached record is shared, the caller may change its result's files
                "provenance": _own_copy(provenance[row[6]]),
                "published": bool(row[5]),
            },
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
        R.c.id,
        R.c.model,
        R.c.version,
        R.c.inputs_hash,
        R.c.created_ms,
        R.c.published,
        R.c.provenance_id,
        R.c.document,
        R.c.shape_id,
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
            bodies = self._bodies(conn, rows, paths.shapes)
        return [self._row_to_result(r, b, provenance) for r, b in zip(rows, bodies, strict=True)]

    def find_one(self, inputs_hash: str, include_unpublished: bool = False) -> Result | None:
        """Return the result with this hash (if published, unless asked), or None."""
        inputs_hash = check_inputs_hash(inputs_hash)
        if self.kind != "sqlite":
            with self._read() as conn:
                return self._find_one(conn, conn.exec_driver_sql, inputs_hash, include_unpublished)
        raw = self._raw_connection()
        try:
            return self._find_one(raw, raw.execute, inputs_hash, include_unpublished)
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None

    def _find_one(
        self, conn: Any, run: Callable[..., Any], inputs_hash: str, include_unpublished: bool
    ) -> Result | None:
        """find_one through the driver: one statement, the row joined to the shape table this
        thread last read from (a second one only when the result is in another shape)."""
        mark = "?" if self.kind == "sqlite" else "%s"
        guess = getattr(self._local, "shape", None)
        if guess is None:
            sql = "SELECT {}, NULL FROM lume_results r"
        else:
            sql = "SELECT {}, s.* FROM lume_results r LEFT JOIN lume_shape_" + str(int(guess))
            sql += " s ON s.result_id = r.id"
        sql = sql.format(_FIND_ONE_COLS) + f" WHERE r.project = {mark} AND r.inputs_hash = {mark}"
        if not include_unpublished:
            sql += " AND r.published"
        row = run(sql, (self.project, self._key(inputs_hash))).fetchone()
        if row is None:
            return None
        provenance = self._provenance_cached(run, mark, row[6])
        shape_id = row[8]
        if shape_id is not None and shape_id not in self._shapes:
            self._load_shapes(conn)
        if shape_id is not None and shape_id != guess:
            values = run(
                f"SELECT * FROM lume_shape_{int(shape_id)} WHERE result_id = {mark}", (row[0],)
            ).fetchone()
            self._local.shape = shape_id
        else:
            values = row[9:]
        if shape_id is not None and not row[7]:  # every value in its column
            read = self._shapes[shape_id].read
            body = read(values) if read is not None else None
            if body is not None:
                return self._row_to_result(row, body, {row[6]: provenance}, plain=True)
        doc = json.loads(row[7]) if row[7] else {}
        if shape_id is None:
            body = [doc.get("inputs", {}), doc.get("outputs", {})]
        else:
            body = self._shapes[shape_id].body(values, doc)
        return self._row_to_result(row, body, {row[6]: provenance})

    @contextmanager
    def _raw_errors(self) -> Iterator[None]:
        """Turn errors of the raw SQLite connection (outside SQLAlchemy) into one lume error."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None

    def _unusable(self, exc: sqlite3.Error) -> StoreUnavailableError:
        """Return the lume error for an error of the raw SQLite connection."""
        return StoreUnavailableError(
            f"{self._where} is not usable ({str(exc).splitlines()[0]}); check LUME_RESULTS_URL."
        )

    def _raw_connection(self) -> Any:
        """Return this thread's raw SQLite connection (autocommit: each SELECT is a snapshot)."""
        raw = getattr(self._local, "raw", None)
        if raw is None:
            with self._errors():
                raw = self.engine.raw_connection()
            self._local.raw = raw
            self._raw.append(raw)
        return raw

    def _provenance_cached(self, run: Callable[..., Any], mark: str, prov_id: int) -> Provenance:
        """Return a provenance record by id (content-addressed, so cached once read)."""
        cache = getattr(self._local, "provenance", None)
        if cache is None:
            cache = self._local.provenance = {}
        if prov_id not in cache:
            if len(cache) > 10_000:
                cache.clear()
            (doc,) = run(f"SELECT document FROM {P.name} WHERE id = {mark}", (prov_id,)).fetchone()
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
        """Check `path`; every stored path is already indexed (typed index or shape column)."""
        check_path(path)
        return path

    def indexed_paths(self) -> list[str]:
        """Return every path stored so far (all are indexed), besides the fixed columns."""
        with self._read() as conn:
            paths = conn.execute(sa.select(PATHS.c.path).order_by(PATHS.c.path)).scalars().all()
            self._load_shapes(conn)
        return sorted({*COLUMNS, *paths, *self._columns})

    def document_id(self, inputs_hash: str) -> str | None:
        """Return the row id of the result with this hash."""
        key = self._key(check_inputs_hash(inputs_hash))
        if self.kind == "sqlite":
            sql = f"SELECT id FROM {R.name} WHERE project = ? AND inputs_hash = ?"
            with self._raw_errors():
                row = self._raw_connection().execute(sql, (self.project, key)).fetchone()
            return None if row is None else str(row[0])
        q = sa.select(R.c.id).where(R.c.project == self.project, R.c.inputs_hash == key)
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
