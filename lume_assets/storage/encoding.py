"""Encode result values into store documents (BSON or JSON) and back, never with pickle.

Plain values (None, bool, str, int within int64, float incl. NaN/inf) are stored as themselves,
so they stay queryable. numpy scalars are stored as the equal Python scalar (``np.float32(1.5)``
comes back as ``1.5``); tuples come back as lists. Everything else uses a one-key marker dict:

- ``{"__ndarray__": {"dtype": "<f8", "shape": [2, 3], "data": <bytes>}}`` — a numpy array as
  typed binary in C order (``data`` is BSON binary in Mongo, base64 text in SQL JSON);
- ``{"__ndarray_ref__": {"store": "hdf5"|"gridfs", "name": <sha256>, "dtype", "shape", ...}}`` —
  an array over the size threshold (or over the per-document inline budget) kept outside the
  document in a content-addressed HDF5 file or GridFS file, so no document nears Mongo's
  16 MiB limit and a retried write reuses the same blob;
- ``{"__complex__": [re, im]}``, ``{"__bytes__": <bytes>}``, ``{"__datetime__": "<iso>"}``;
- ``{"__npscalar__": {"dtype": "<m8[s]", "data": <bytes>}}`` — a numpy scalar with no exact
  Python equal (``np.longdouble``, ``np.clongdouble``, ``np.timedelta64``, ``np.datetime64``),
  kept as typed binary and decoded back to the same numpy scalar.

Text must be valid Unicode: a string (or key) holding a lone surrogate (e.g. from
``os.fsdecode`` of undecodable bytes) cannot be written as UTF-8 and is refused with a
`SerializerError` naming its path, as is any value the codec cannot store exactly.

Decoding restores dtype (every int/uint/float/complex width, bool, unicode, datetime64...),
shape and values exactly. Object and structured arrays are refused with a `SerializerError`.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from lume_assets.errors import SerializerError
from lume_assets.storage.particles import is_particle_group, particles_record

ARRAY = "__ndarray__"
ARRAY_REF = "__ndarray_ref__"
COMPLEX = "__complex__"
BYTES = "__bytes__"
DATETIME = "__datetime__"
NPSCALAR = "__npscalar__"
MARKERS = frozenset({ARRAY, ARRAY_REF, COMPLEX, BYTES, DATETIME, NPSCALAR})

DEFAULT_ARRAY_THRESHOLD = 1024 * 1024  # 1 MiB
DEFAULT_INLINE_BUDGET = 8 * 1024 * 1024  # inline array bytes per document (BSON limit 16 MiB)
_INT64 = (-(2**63), 2**63 - 1)
_PLAIN = frozenset({float, bool, type(None)})  # stored exactly as they are
# numpy scalars whose .item() is not an exact Python equal: stored as typed binary
_EXACT_SCALARS = (np.longdouble, np.clongdouble, np.timedelta64, np.datetime64)


class BlobStore(Protocol):
    """Somewhere large arrays live outside the result document (HDF5 files, GridFS)."""

    kind: str

    def put_array(self, array: np.ndarray, digest: str) -> dict[str, Any]:
        """Store `array` under its content digest (idempotently) and return pointer fields."""

    def get_array(self, pointer: Mapping[str, Any]) -> np.ndarray:
        """Return the array a pointer refers to."""


def check_text(value: str, path: str) -> str:
    """Return `value` if it can be written as UTF-8; else raise SerializerError naming `path`."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        shown = value[max(0, exc.start - 20) : exc.start + 20].encode("utf-8", "backslashreplace")
        raise SerializerError(
            f"{path}: text {shown.decode('ascii', 'backslashreplace')!r} holds a lone surrogate "
            f"(\\u{ord(value[exc.start]):04x} at {exc.start}), which is not valid Unicode; "
            "decode its bytes properly (or store them as bytes)."
        ) from None
    return value


def array_digest(array: np.ndarray) -> str:
    """Return the sha256 of an array's dtype, shape and C-order bytes (its content address)."""
    h = hashlib.sha256()
    h.update(array.dtype.str.encode())
    h.update(repr(tuple(array.shape)).encode())
    h.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
    return h.hexdigest()


def check_array_dtype(array: np.ndarray, path: str) -> None:
    """Refuse arrays whose dtype has no exact binary form (object, structured, void)."""
    if array.dtype.kind == "O" or array.dtype.fields is not None or array.dtype.kind == "V":
        raise SerializerError(
            f"{path}: numpy arrays of dtype {array.dtype} cannot be stored (no exact binary "
            "form); convert to numeric, bool, unicode-string or datetime64 arrays."
        )


def array_from_bytes(data: bytes, dtype: str, shape: list[int], path: str = "") -> np.ndarray:
    """Rebuild a writable array from raw C-order bytes, dtype string and shape."""
    dt = np.dtype(dtype)
    count = math.prod(shape)
    if len(data) != count * dt.itemsize:
        raise SerializerError(
            f"{path}: stored array has {len(data)} bytes but dtype {dtype} and shape "
            f"{tuple(shape)} need {count * dt.itemsize}; the document is corrupt."
        )
    return np.frombuffer(data, dtype=dt, count=count).reshape(shape).copy()


class Codec:
    """Turn result values into store documents and back (see module docstring)."""

    def __init__(
        self,
        *,
        binary: str = "bytes",
        blobs: BlobStore | None = None,
        array_threshold: int = DEFAULT_ARRAY_THRESHOLD,
        inline_budget: int = DEFAULT_INLINE_BUDGET,
    ) -> None:
        """`binary`: "bytes" (BSON binary) or "base64" (JSON text); `blobs` holds big arrays."""
        if binary not in ("bytes", "base64"):
            raise ValueError(f"binary must be 'bytes' or 'base64', not {binary!r}")
        self.binary = binary
        self.blobs = blobs
        self.array_threshold = array_threshold
        self.inline_budget = inline_budget

    # -- encoding ------------------------------------------------------------------------------
    def _bin(self, data: bytes) -> bytes | str:
        """Return raw bytes in this codec's binary representation."""
        return data if self.binary == "bytes" else base64.b64encode(data).decode("ascii")

    def _unbin(self, data: bytes | str) -> bytes:
        """Return raw bytes from either binary representation."""
        return base64.b64decode(data) if isinstance(data, str) else bytes(data)

    def encode(self, value: Any, path: str) -> Any:
        """Return `value` encoded for a document; `path` names it in error messages."""
        budget = [self.inline_budget]
        return self._encode(value, path, budget)

    def _encode(self, value: Any, path: str, budget: list[int]) -> Any:
        """Encode recursively, spending `budget[0]` inline array bytes."""
        if type(value) in _PLAIN:
            return value
        if isinstance(value, str):
            return check_text(str(value), path)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            if not _INT64[0] <= value <= _INT64[1]:
                raise SerializerError(
                    f"{path}: integer {value} does not fit in 64 bits; store it as a float "
                    "or a string."
                )
            return value
        if isinstance(value, float):
            return value
        if isinstance(value, _EXACT_SCALARS):
            data = np.asarray(value).tobytes()
            return {NPSCALAR: {"dtype": value.dtype.str, "data": self._bin(data)}}
        if isinstance(value, np.generic) and not isinstance(value, np.void):
            if isinstance(value, np.complexfloating):
                return {COMPLEX: [float(value.real), float(value.imag)]}
            return self._encode(value.item(), path, budget)
        if isinstance(value, complex):
            return {COMPLEX: [value.real, value.imag]}
        if isinstance(value, bytes | bytearray):
            return {BYTES: self._bin(bytes(value))}
        if isinstance(value, datetime):
            return {DATETIME: value.isoformat()}
        if isinstance(value, np.ndarray):
            return self._encode_array(value, path, budget)
        if isinstance(value, list | tuple):
            return [
                v if type(v) in _PLAIN else self._encode(v, f"{path}[{i}]", budget)
                for i, v in enumerate(value)
            ]
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                check_key(key, path)
                # plain values are stored as they are: skip the recursion (hot path)
                out[key] = (
                    item if type(item) in _PLAIN else self._encode(item, f"{path}.{key}", budget)
                )
            return out
        if is_particle_group(value):  # the file holds the particles; the record their summary
            return self._encode(particles_record(value), path, budget)
        raise SerializerError(
            f"{path}: a value of type {type(value).__name__} cannot be stored in a result; use "
            "numbers, strings, bools, None, bytes, datetimes, lists, dicts or numpy arrays."
        )

    def _encode_array(self, array: np.ndarray, path: str, budget: list[int]) -> dict:
        """Encode an array inline as typed binary, or offload it to the blob store."""
        dtype, nbytes = array.dtype, array.nbytes
        if dtype.kind in "OV" or dtype.fields is not None:
            check_array_dtype(array, path)
        meta = {"dtype": dtype.str, "shape": list(array.shape)}
        if nbytes <= self.array_threshold and nbytes <= budget[0]:
            budget[0] -= nbytes
            meta["data"] = self._bin(array.tobytes())  # tobytes() is C order for any layout
            return {ARRAY: meta}
        if self.blobs is None:
            raise SerializerError(
                f"{path}: array of {array.nbytes} bytes is over the inline limit "
                f"({self.array_threshold} bytes) and this store has no place for large arrays; "
                "configure files_root (HDF5) or use a MongoDB store (GridFS)."
            )
        digest = array_digest(array)
        pointer = self.blobs.put_array(array, digest)
        return {ARRAY_REF: {**meta, "name": digest, "nbytes": int(array.nbytes), **pointer}}

    # -- decoding ------------------------------------------------------------------------------
    def decode(self, value: Any, path: str = "") -> Any:
        """Return the Python value of an encoded document value."""
        if isinstance(value, list):
            return [self.decode(v, path) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == ARRAY:
                return array_from_bytes(
                    self._unbin(inner["data"]), inner["dtype"], inner["shape"], path
                )
            if key == ARRAY_REF:
                return self._load_ref(inner, path)
            if key == COMPLEX:
                return complex(inner[0], inner[1])
            if key == BYTES:
                return self._unbin(inner)
            if key == DATETIME:
                return datetime.fromisoformat(inner)
            if key == NPSCALAR:
                return array_from_bytes(self._unbin(inner["data"]), inner["dtype"], [], path)[()]
        return {k: self.decode(v, f"{path}.{k}") for k, v in value.items()}

    def _load_ref(self, pointer: Mapping[str, Any], path: str) -> np.ndarray:
        """Load an offloaded array and check it against the pointer's dtype and shape."""
        if self.blobs is None or pointer.get("store") != self.blobs.kind:
            raise SerializerError(
                f"{path}: array is stored in {pointer.get('store')!r} but this store reads "
                f"{getattr(self.blobs, 'kind', None)!r}; open the store with the files_root "
                "or database it was written with."
            )
        array = self.blobs.get_array(pointer)
        dtype, shape = np.dtype(pointer["dtype"]), tuple(pointer["shape"])
        if array.dtype != dtype:
            array = array.astype(dtype)
        if array.shape != shape:
            raise SerializerError(
                f"{path}: offloaded array {pointer['name']} has shape {array.shape}, "
                f"expected {shape}; the blob is corrupt."
            )
        return array


def check_key(key: Any, path: str) -> None:
    """Refuse dict keys a document store cannot hold or query unambiguously."""
    if (
        type(key) is str
        and key
        and key[0] not in "$_"
        and "." not in key
        and "\x00" not in key
        and key.isascii()
    ):
        return  # the common case, decided without building anything
    if not isinstance(key, str):
        raise SerializerError(f"{path}: key {key!r} is not a string; use string keys.")
    check_text(key, f"{path} (a key)")
    if not key or key.startswith("$") or "." in key or "\x00" in key or key in MARKERS:
        raise SerializerError(
            f"{path}: key {key!r} is not allowed (empty, starting with '$', containing '.' "
            f"or NUL, or one of {sorted(MARKERS)}); rename it."
        )
