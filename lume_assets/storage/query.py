"""The result query language: a checked subset of MongoDB filters that every store runs alike.

A filter maps dotted paths to a value (meaning ``$eq``) or to an operator dict::

    {"inputs.x": {"$gte": 1, "$lt": 5}, "outputs.status": "ok",
     "$and": [{"inputs.mode": {"$in": ["a", "b"]}}]}

Allowed operators: ``$eq $ne $gt $gte $lt $lte $in $and``. Anything else — ``$where``,
``$function``, ``$expr``, ``$regex``, ``$or``... — is refused with a `QueryError` naming it.

Semantics are MongoDB's, so both stores agree: numbers compare across int/float; values of
different types never match a comparison (``true`` is not ``1``, ``"2"`` is not ``2``); a path
holding a list matches when any element matches (one level, and through lists of dicts);
``{"p": None}`` matches a null or missing ``p``; ``$ne`` matches a missing path. Operands must be
scalars (None, bool, number, string; datetimes for ``created``); whole-list or sub-document
equality, positional paths (``inputs.x.0``) and paths into encoded values are refused.

Paths: ``model``, ``version``, ``inputs_hash``, ``created``, ``inputs.<...>``, ``outputs.<...>``,
``provenance.<run_id|asset_key|partition_key|code_sha|deployment_id|files.<name>>``.

Sorting follows MongoDB's order too: missing/null < numbers (NaN lowest) < strings (by UTF-8
bytes) < sub-documents < booleans < dates; a list sorts by its smallest element ascending and its
largest descending. Ties are broken by ``inputs_hash`` so every store returns the same order.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from lume_assets.errors import QueryError, SerializerError
from lume_assets.storage.encoding import MARKERS, check_text

ALLOWED_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$and")
COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in")
TOP_LEVEL = ("model", "version", "inputs_hash", "created")
#: Integers a store can compare (SQLite and BSON hold 64-bit ints) and the largest limit.
MAX_INT = 2**63
MAX_LIMIT = 10**9
ROOTS = ("inputs", "outputs", "provenance")
PROVENANCE_FIELDS = ("run_id", "asset_key", "partition_key", "code_sha", "deployment_id", "files")

# Kinds are MongoDB's BSON sort ranks, so (kind, value) orders values the way MongoDB does.
NULL, NUMBER, STRING, OBJECT, ARRAY, BOOL, DATE = 1, 2, 3, 4, 5, 8, 9


@dataclass(frozen=True)
class Condition:
    """One checked comparison: `path` `op` `value` (`value` is a tuple for `$in`)."""

    path: str
    op: str
    value: Any


def _refuse(op: str, where: str) -> QueryError:
    """Build the error for an operator outside the allowed subset."""
    return QueryError(
        f"Operator {op!r} {where} is not supported; allowed operators: "
        f"{', '.join(ALLOWED_OPERATORS)}."
    )


def check_path(path: str) -> str:
    """Return `path` if it is a queryable dotted path, else raise QueryError."""
    if not isinstance(path, str) or not path:
        raise QueryError(f"Query path {path!r} must be a non-empty dotted string.")
    utf8_text(path, "query path")
    parts = path.split(".")
    if path in TOP_LEVEL:
        return path
    if parts[0] not in ROOTS or len(parts) < 2:
        raise QueryError(
            f"Query path {path!r} is not queryable; use one of {', '.join(TOP_LEVEL)} or a "
            "dotted path under inputs., outputs. or provenance. (e.g. 'outputs.energy')."
        )
    if parts[0] == "provenance" and (
        parts[1] not in PROVENANCE_FIELDS or (parts[1] == "files") != (len(parts) == 3)
    ):
        raise QueryError(
            f"Query path {path!r}: provenance fields are {', '.join(PROVENANCE_FIELDS[:-1])} "
            "and files.<name>."
        )
    for part in parts[1:]:
        if not part or part.startswith("$") or part in MARKERS:
            raise QueryError(f"Query path {path!r} has an invalid segment {part!r}.")
        if part.isdigit():
            raise QueryError(
                f"Query path {path!r}: positional paths ({part!r}) are not supported; a path "
                "holding a list already matches when any element matches."
            )
    return path


def utf8_text(text: str, what: str) -> str:
    """Return `text` if it is valid Unicode; else a QueryError naming `what` (lone surrogates)."""
    try:
        return check_text(text, what)
    except SerializerError as exc:
        raise QueryError(str(exc)) from None


def _operand(value: Any, op: str, path: str) -> Any:
    """Return a scalar operand in canonical Python form, refusing lists, dicts and NaN."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | str):
        if value is None and op in ("$gt", "$gte", "$lt", "$lte"):
            raise QueryError(f"{path}: {op} needs a non-null operand; use $eq/$ne with None.")
        return utf8_text(value, f"{path} {op} operand") if isinstance(value, str) else value
    if isinstance(value, int | float):
        if isinstance(value, int) and abs(value) >= MAX_INT:
            raise QueryError(
                f"{path}: {op} operand is an integer of ~{int(value.bit_length() * 0.30103) + 1} "
                "digits, too large to compare; give a number below 9.2e18."
            )
        if isinstance(value, float) and math.isnan(value):
            raise QueryError(f"{path}: NaN cannot be used as a query operand.")
        return value
    if isinstance(value, datetime):
        if path != "created":
            raise QueryError(f"{path}: datetime operands are only supported on 'created'.")
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    raise QueryError(
        f"{path}: {op} operand {value!r} must be a scalar (None, bool, number, string); "
        "list and sub-document equality is not supported."
    )


def parse_filter(filter: Mapping[str, Any] | None) -> list[Condition]:
    """Check a filter and return its conditions (all of which must hold)."""
    if filter is None:
        return []
    if not isinstance(filter, Mapping):
        raise QueryError(f"A filter must be a dict of path -> condition, not {filter!r}.")
    conditions: list[Condition] = []
    for key, spec in filter.items():
        if key == "$and":
            if not isinstance(spec, list | tuple) or not all(isinstance(s, Mapping) for s in spec):
                raise QueryError("$and takes a list of filter dicts.")
            for sub in spec:
                conditions.extend(parse_filter(sub))
            continue
        if isinstance(key, str) and key.startswith("$"):
            raise _refuse(key, "at the top level")
        path = check_path(key)
        if isinstance(spec, Mapping):
            ops = list(spec)
            if not ops or not all(isinstance(o, str) and o.startswith("$") for o in ops):
                raise QueryError(
                    f"{path}: sub-document equality is not supported; use a dotted path "
                    f"(e.g. '{path}.field') or an operator dict like {{'$gt': 1}}."
                )
            for op in ops:
                if op not in COMPARISONS:
                    raise _refuse(op, f"on {path!r}")
                value = spec[op]
                if op == "$in":
                    if not isinstance(value, list | tuple):
                        raise QueryError(f"{path}: $in takes a list of values, not {value!r}.")
                    value = tuple(_operand(v, op, path) for v in value)
                else:
                    value = _operand(value, op, path)
                conditions.append(Condition(path, op, value))
        else:
            conditions.append(Condition(path, "$eq", _operand(spec, "$eq", path)))
    return conditions


def parse_sort(sort: str | Sequence[tuple[str, int]] | None) -> list[tuple[str, int]]:
    """Check a sort spec ("path", or [(path, 1|-1), ...]) and return [(path, direction)]."""
    if sort is None:
        return []
    if isinstance(sort, str):
        sort = [(sort, 1)]
    out = []
    for item in sort:
        if not isinstance(item, tuple | list) or len(item) != 2 or item[1] not in (1, -1):
            raise QueryError(
                f"Sort item {item!r} must be (path, 1) for ascending or (path, -1) descending."
            )
        out.append((check_path(item[0]), int(item[1])))
    return out


def check_limit(limit: int | None) -> int | None:
    """Return a valid limit (positive int or None)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_LIMIT:
        shown = repr(limit) if len(repr(limit)) < 30 else f"{repr(limit)[:27]}..."
        raise QueryError(
            f"limit must be a positive integer up to {MAX_LIMIT:,} or None, not {shown}."
        )
    return limit


def scalar_kind(value: Any) -> int:
    """Return the BSON sort rank (kind) of a scalar value."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, datetime):
        return DATE
    raise QueryError(f"unsupported scalar {value!r}")


def number_key(value: float) -> str:
    """Return a 16-hex-digit text that sorts like the float (NaN lowest)."""
    if math.isnan(value):
        return "0" * 16
    (bits,) = struct.unpack(">Q", struct.pack(">d", float(value) + 0.0))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}"


def datetime_ms(value: datetime) -> float:
    """Return a datetime as milliseconds since the epoch (UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000.0)


@dataclass(frozen=True)
class Leaf:
    """One indexed value at a path: kind plus a number or string, and its sort key."""

    path: str
    kind: int
    num: float | None
    text: str | None

    @property
    def sort_key(self) -> str:
        """Return the text whose byte order is MongoDB's order for this value."""
        head = f"{self.kind:02d}"
        if self.kind in (NUMBER, BOOL, DATE):
            return head + number_key(self.num if self.num is not None else math.nan)
        if self.kind == STRING:
            return head + (self.text or "")
        return head


def leaf_for(path: str, value: Any) -> Leaf:
    """Return the index leaf of a scalar value (already encoded)."""
    kind = scalar_kind(value)
    if kind == NUMBER:
        num = None if math.isnan(value) else float(value)
        return Leaf(path, kind, num, None)
    if kind == BOOL:
        return Leaf(path, kind, 1.0 if value else 0.0, None)
    if kind == DATE:
        return Leaf(path, kind, datetime_ms(value), None)
    if kind == STRING:
        return Leaf(path, kind, None, value)
    return Leaf(path, kind, None, None)


def iter_leaves(value: Any, path: str, in_list: bool = False) -> Iterator[Leaf]:
    """Yield the index leaves of an encoded value the way MongoDB's path matching sees them.

    A dict yields an OBJECT presence leaf and recurses into its keys (encoded markers are
    opaque); a list yields an ARRAY presence leaf and its elements (one level; dicts inside are
    traversed, lists inside lists are not); a scalar yields its typed leaf.
    """
    if isinstance(value, dict):
        if not in_list:
            yield Leaf(path, OBJECT, None, None)
        if len(value) == 1 and next(iter(value)) in MARKERS:
            return
        for key, item in value.items():
            yield from iter_leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        if in_list:
            return
        yield Leaf(path, ARRAY, None, None)
        for item in value:
            yield from iter_leaves(item, path, in_list=True)
    elif isinstance(value, bytes):
        return
    else:
        yield leaf_for(path, value)
