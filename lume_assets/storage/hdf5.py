"""HDF5 storage: nested Python structures <-> HDF5 groups, datasets and attributes.

Mapping between Python and HDF5 (the "H5Node convention"):

* a ``dict`` (str keys) is a group; each item is a member named by its key;
* a numpy array or numpy scalar is a dataset of exactly that dtype (every int/uint/float
  width incl. float16, complex64/128, bool, fixed-length bytes, structured dtypes, either
  byte order) -- read back bit for bit;
* a ``str`` is a variable-length UTF-8 string dataset, ``bytes`` a variable-length ASCII one;
  numpy unicode arrays (``<U``) are stored as variable-length UTF-8 and come back as ``<U``;
  numpy object arrays of ``str``/``bytes`` are variable-length UTF-8/ASCII datasets;
* Python ``int``/``float``/``bool``/``complex``/``None``, 0-d arrays and lists (of one
  element type, any nesting) are datasets (lists of mixed items are groups ``"0"``, ``"1"``,
  ...) carrying the attribute ``__lume_type__`` so they come back as the same Python type;
  tuples come back as lists;
* :class:`H5Node` ``(value, attrs)`` attaches HDF5 attributes to a group (``value`` a dict)
  or a dataset (any other value). Reading gives an ``H5Node`` exactly where the file has
  attributes (other than ``__lume_type__``) and the plain value elsewhere.

Any HDF5 file written by a simulation code (deep groups, attributes on groups and datasets,
scalar/array/string attributes, fixed- or variable-length strings, empty datasets) reads into
this structure and writes back with every dataset and attribute value and dtype intact.
Soft and external links are followed (their targets are copied on write-back).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lume_assets.errors import SerializerError
from lume_assets.storage.encoding import check_text
from lume_assets.storage.h5node import H5Node
from lume_assets.storage.serializers import PendingDigest, Serializer

MARKER = "__lume_type__"
"""Attribute lume_assets sets on an HDF5 object to restore its Python type on read."""

CHUNK_BYTES = 1 << 20
"""Target chunk size for large (or compressed) datasets: about 1 MiB."""

_ROOT_VALUE = "value"


@dataclass(frozen=True)
class WriteOptions:
    """How datasets are laid out: compression filter and target chunk size."""

    compression: str | None = None
    compression_opts: Any = None
    chunk_bytes: int = CHUNK_BYTES
    deferred: list[tuple[h5py.Dataset, np.ndarray]] | None = None
    """If a list: large plain numeric arrays are allocated now and their data written later
    (by `hdf5_checksum`, which hashes the file while that data is written)."""


def chunk_shape(shape: tuple[int, ...], itemsize: int, target: int = CHUNK_BYTES) -> tuple:
    """Return a chunk shape of about `target` bytes, full along the trailing axes."""
    if not shape:
        return ()
    chunk = list(shape)
    for axis in range(len(shape)):
        inner = math.prod(shape[axis + 1 :]) * max(itemsize, 1)
        if inner <= target:
            chunk[axis] = max(1, min(shape[axis], target // max(inner, 1)))
            break
        chunk[axis] = 1
    return tuple(max(1, c) for c in chunk)


# -- writing -------------------------------------------------------------------------------
def _where(parent: h5py.Group, name: str) -> str:
    base = parent.name.rstrip("/")
    return f"{base}/{name}"


def _check_key(parent: h5py.Group, key: Any) -> str:
    """Return `key` if it can name an HDF5 member exactly (HDF5 names are UTF-8 C strings)."""
    if not isinstance(key, str) or not key or "/" in key or key == "." or "\x00" in key:
        raise SerializerError(
            f"Key {key!r} under HDF5 group {parent.name!r} cannot name an HDF5 member; "
            "use non-empty string keys without '/' or NUL."
        )
    return check_text(key, f"key under HDF5 group {parent.name!r}")


def _same_types(a: Any, b: Any) -> bool:
    """Whether `a` (from ndarray.tolist()) equals `b` element for element with the same types."""
    if isinstance(b, list | tuple):
        return (
            isinstance(a, list)
            and len(a) == len(b)
            and all(_same_types(x, y) for x, y in zip(a, b, strict=True))
        )
    return type(a) is type(b) and a == b


def _raw_copyable(dtype: np.dtype) -> bool:
    """Whether HDF5 stores this dtype byte for byte as numpy holds it (no conversion)."""
    sizes = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8), "c": (8, 16)}
    return dtype.itemsize in sizes.get(dtype.kind, ())


def _create_dataset(parent: h5py.Group, name: str, arr: np.ndarray, opts: WriteOptions, **kw):
    big = arr.nbytes > opts.chunk_bytes or opts.compression is not None
    if big and arr.ndim > 0 and arr.size > 0:
        kw["chunks"] = chunk_shape(arr.shape, arr.dtype.itemsize, opts.chunk_bytes)
        if opts.compression is not None:
            kw["compression"] = opts.compression
            kw["compression_opts"] = opts.compression_opts
        elif opts.deferred is not None and not kw.get("dtype") and _raw_copyable(arr.dtype):
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # every chunk placed now
            dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
            ds = parent.create_dataset(name, shape=arr.shape, dtype=arr.dtype, dcpl=dcpl, **kw)
            opts.deferred.append((ds, np.ascontiguousarray(arr)))
            return ds
    return parent.create_dataset(name, data=arr, **kw)


def _write_array(parent: h5py.Group, name: str, arr: np.ndarray, opts: WriteOptions):
    kind = arr.dtype.kind
    if kind in "UO":
        for i, item in enumerate(arr.ravel().tolist()):
            if isinstance(item, str):
                check_text(item, f"{_where(parent, name)}[{i}]")
    if kind == "U":
        ds = _create_dataset(
            parent, name, arr.astype(object), opts, dtype=h5py.string_dtype("utf-8")
        )
        ds.attrs[MARKER] = f"unicode:{arr.dtype.str}"
        return ds
    if kind == "O":
        flat = arr.ravel()
        if all(isinstance(x, str) for x in flat):
            return _create_dataset(parent, name, arr, opts, dtype=h5py.string_dtype("utf-8"))
        if all(isinstance(x, bytes) for x in flat):
            return _create_dataset(parent, name, arr, opts, dtype=h5py.string_dtype("ascii"))
        raise SerializerError(
            f"Array {_where(parent, name)!r} has dtype object with items that are not all str "
            "or all bytes; give it a numeric dtype or store the items in a dict or list."
        )
    ds = _create_dataset(parent, name, arr, opts)
    if arr.ndim == 0:
        ds.attrs[MARKER] = "ndarray0"
    return ds


_PY_SCALARS: dict[type, tuple[str, Any]] = {
    bool: ("bool", np.bool_),
    int: ("int", np.int64),
    float: ("float", np.float64),
    complex: ("complex", np.complex128),
}


def write_node(parent: h5py.Group, name: str, value: Any, opts: WriteOptions | None = None):
    """Write `value` as member `name` of `parent` (see the module doc) and return it."""
    opts = opts or WriteOptions()
    name = _check_key(parent, name)
    if isinstance(value, H5Node):
        obj = write_node(parent, name, value.value, opts)
        write_attrs(obj, value.attrs)
        return obj
    if isinstance(value, Mapping):
        group = parent.create_group(name, track_order=True)
        _write_members(group, value, opts)
        return group
    if isinstance(value, h5py.Empty):
        return parent.create_dataset(name, data=value)
    if isinstance(value, np.ndarray | np.generic):
        arr = np.asarray(value)
        if arr.dtype.kind in "mM":  # HDF5 has no datetime64/timedelta64 type
            shown = repr(value) if arr.ndim == 0 else f"an array of {arr.dtype}"
            raise SerializerError(
                f"{_where(parent, name)}: {shown} cannot be stored in HDF5 exactly; store "
                f"its int64 count (value.astype('int64')) and the unit {arr.dtype.str!r}."
            )
        if isinstance(value, np.generic) and arr.dtype.kind != "U":
            return _create_dataset(parent, name, arr, opts)
        return _write_array(parent, name, arr, opts)
    if type(value) in _PY_SCALARS:
        tag, np_type = _PY_SCALARS[type(value)]
        try:
            ds = parent.create_dataset(name, data=np_type(value))
        except OverflowError:
            raise SerializerError(
                f"Integer {_where(parent, name)!r}={value} does not fit in 64 bits; "
                "store it as a string."
            ) from None
        ds.attrs[MARKER] = tag
        return ds
    if isinstance(value, str):
        check_text(value, _where(parent, name))
        return parent.create_dataset(name, data=value, dtype=h5py.string_dtype("utf-8"))
    if isinstance(value, bytes):
        if b"\x00" in value:
            ds = parent.create_dataset(name, data=np.frombuffer(value, dtype=np.uint8))
            ds.attrs[MARKER] = "bytes"
            return ds
        return parent.create_dataset(name, data=value, dtype=h5py.string_dtype("ascii"))
    if value is None:
        ds = parent.create_dataset(name, data=h5py.Empty("i1"))
        ds.attrs[MARKER] = "none"
        return ds
    if isinstance(value, list | tuple):
        return _write_list(parent, name, value, opts)
    raise SerializerError(
        f"Cannot store {_where(parent, name)!r} of type {type(value).__name__} in HDF5; "
        "use numpy arrays, numbers, strings, lists or dicts of them "
        "(or register a serializer for this type)."
    )


def _write_list(parent: h5py.Group, name: str, value: list | tuple, opts: WriteOptions):
    arr = None
    if value:
        try:
            candidate = np.asarray(value)
        except (ValueError, TypeError, OverflowError):
            candidate = None
        if (
            candidate is not None
            and candidate.dtype.kind in "biufcU"
            and _same_types(candidate.tolist(), value)
        ):
            arr = candidate
    if arr is not None:
        if arr.dtype.kind == "U":
            for i, item in enumerate(value):
                check_text(item, f"{_where(parent, name)}[{i}]")
            ds = _create_dataset(
                parent, name, arr.astype(object), opts, dtype=h5py.string_dtype("utf-8")
            )
        else:
            ds = _create_dataset(parent, name, arr, opts)
        ds.attrs[MARKER] = "list"
        return ds
    group = parent.create_group(name, track_order=True)
    group.attrs[MARKER] = "list"
    for i, item in enumerate(value):
        write_node(group, str(i), item, opts)
    return group


def _write_members(group: h5py.Group, obj: Mapping, opts: WriteOptions) -> None:
    for key, item in obj.items():
        write_node(group, key, item, opts)


def write_attrs(obj: h5py.HLObject, attrs: Mapping[str, Any]) -> None:
    """Set HDF5 attributes on `obj` from `attrs` (str/bytes/numbers/arrays)."""
    for key, value in attrs.items():
        if not isinstance(key, str) or not key or key == MARKER:
            raise SerializerError(
                f"Attribute name {key!r} on {obj.name!r} is not allowed; use a non-empty "
                f"string other than {MARKER!r}."
            )
        try:
            if isinstance(value, np.ndarray) and value.dtype.kind == "O":
                enc = "ascii" if all(isinstance(x, bytes) for x in value.ravel()) else "utf-8"
                obj.attrs.create(key, value, dtype=h5py.string_dtype(enc))
            elif isinstance(value, np.ndarray) and value.dtype.kind == "U":
                obj.attrs.create(key, value.astype(object), dtype=h5py.string_dtype("utf-8"))
            elif isinstance(value, bytes) and not isinstance(value, np.bytes_):
                obj.attrs.create(key, value, dtype=h5py.string_dtype("ascii"))
            else:
                obj.attrs[key] = value
        except (TypeError, ValueError) as exc:
            raise SerializerError(
                f"Attribute {key!r}={value!r} on {obj.name!r} cannot be stored in HDF5 ({exc}); "
                "attributes hold numbers, strings and small arrays of them."
            ) from None


def write_group(group: h5py.Group, obj: Any, opts: WriteOptions | None = None) -> None:
    """Write a dict (or an `H5Node` of a dict) into the existing `group`: members and attrs."""
    opts = opts or WriteOptions()
    attrs: Mapping[str, Any] = {}
    if isinstance(obj, H5Node):
        obj, attrs = obj.value, obj.attrs
    if not isinstance(obj, Mapping):
        raise SerializerError(
            f"write_group needs a dict for group {group.name!r}, got {type(obj).__name__}; "
            "wrap the value, e.g. {'data': value}."
        )
    _write_members(group, obj, opts)
    write_attrs(group, attrs)


# -- reading -------------------------------------------------------------------------------
def read_attrs(obj: h5py.HLObject) -> dict[str, Any]:
    """Return the attributes of `obj` except lume's type marker (vlen ASCII strings as bytes)."""
    out: dict[str, Any] = {}
    for key in obj.attrs:
        if key == MARKER:
            continue
        value = obj.attrs[key]
        info = h5py.check_string_dtype(obj.attrs.get_id(key).dtype)
        if info is not None and info.length is None and info.encoding == "ascii":
            if isinstance(value, str):
                value = value.encode("ascii", "surrogateescape")
            elif isinstance(value, np.ndarray):
                value = np.array(
                    [
                        v.encode("ascii", "surrogateescape") if isinstance(v, str) else v
                        for v in value.ravel()
                    ],
                    dtype=object,
                ).reshape(value.shape)
        out[key] = value
    return out


def _marker(obj: h5py.HLObject) -> str | None:
    tag = obj.attrs.get(MARKER)
    if isinstance(tag, bytes):
        tag = tag.decode()
    return tag


def _read_dataset(ds: h5py.Dataset, tag: str | None) -> Any:
    if ds.shape is None:
        return None if tag == "none" else h5py.Empty(ds.dtype)
    info = h5py.check_string_dtype(ds.dtype)
    if info is not None and info.length is None:
        value = ds.asstr()[()] if info.encoding == "utf-8" else ds[()]
        if tag is not None and tag.startswith("unicode:"):
            return np.asarray(value, dtype=np.dtype(tag.split(":", 1)[1]))
        if tag == "list":
            return value.tolist()
        return value
    if ds.size and ds.ndim:
        value = np.empty(ds.shape, dtype=ds.dtype)
        ds.read_direct(value)
    else:
        value = ds[()]
    if tag is None:
        return value
    if tag == "ndarray0":
        return np.asarray(value)
    if tag == "list":
        return value.tolist()
    if tag == "bytes":
        return value.tobytes()
    if tag in ("int", "float", "bool", "complex"):
        return {"int": int, "float": float, "bool": bool, "complex": complex}[tag](value)
    return value


def read_node(obj: h5py.HLObject) -> Any:
    """Read one HDF5 group or dataset into the nested structure (see the module doc)."""
    tag = _marker(obj)
    if isinstance(obj, h5py.Group):
        if tag == "list":
            value: Any = [read_node(obj[str(i)]) for i in range(len(obj))]
        else:
            value = {name: read_node(child) for name, child in _members(obj)}
    elif isinstance(obj, h5py.Dataset):
        value = _read_dataset(obj, tag)
    else:  # pragma: no cover - datatypes committed to the file
        raise SerializerError(f"HDF5 object {obj.name!r} ({type(obj).__name__}) is not readable.")
    attrs = read_attrs(obj)
    return H5Node(value, attrs) if attrs else value


def _members(group: h5py.Group) -> Iterator[tuple[str, h5py.HLObject]]:
    for name in group:
        child = group.get(name)
        if child is None:
            raise SerializerError(
                f"HDF5 member {_where(group, name)!r} is a dangling link; fix or remove it."
            )
        if isinstance(child, h5py.Datatype):
            continue  # a committed (named) datatype is a type definition, not data
        yield name, child


def read_group(group: h5py.Group) -> Any:
    """Read `group` into a dict of its members (an `H5Node` if the group has attributes)."""
    return read_node(group)


def describe(group: h5py.Group) -> list[dict[str, Any]]:
    """List every dataset below `group`: name, shape and dtype (for metadata and UIs)."""
    rows: list[dict[str, Any]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            shape = "empty" if obj.shape is None else str(tuple(obj.shape))
            info = h5py.check_string_dtype(obj.dtype)
            dtype = f"string ({info.encoding})" if info is not None else str(obj.dtype)
            rows.append({"name": obj.name, "shape": shape, "dtype": dtype})

    group.visititems(visit)
    return rows


def describe_file(path: str | Path) -> list[dict[str, Any]]:
    """List every dataset of the HDF5 file at `path` (name, shape, dtype)."""
    with h5py.File(path, "r") as fh:
        return describe(fh)


def write_root(fh: h5py.File, obj: Any, opts: WriteOptions) -> None:
    """Write `obj` as the whole content of the open file `fh` (a non-dict: dataset "value")."""
    is_group = isinstance(obj, Mapping) or (
        isinstance(obj, H5Node) and isinstance(obj.value, Mapping)
    )
    if is_group:
        write_group(fh, obj, opts)
    else:
        write_node(fh, _ROOT_VALUE, obj, opts)
        fh.attrs[MARKER] = _ROOT_VALUE


class HDF5Serializer(Serializer):
    """Nested dicts of arrays, numbers, strings and lists as an HDF5 file (module doc)."""

    name = "hdf5"
    extension = ".h5"

    def __init__(
        self,
        compression: str | None = None,
        compression_opts: Any = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        """Use `compression` ("gzip", "lzf", ...) for every dataset if given; ~1 MiB chunks."""
        if compression is not None and compression not in h5py.filters.encode:
            raise SerializerError(
                f"Unknown HDF5 compression {compression!r}; "
                f"use one of {', '.join(sorted(h5py.filters.encode))} or none."
            )
        self.options = WriteOptions(compression, compression_opts, chunk_bytes)

    def dump(self, obj: Any, path: Path) -> None:
        """Write `obj` to a new HDF5 file at `path` (a non-dict goes to dataset "value")."""
        try:
            with h5py.File(path, "w", track_order=True) as fh:
                write_root(fh, obj, self.options)
        except SerializerError:
            raise
        except (OSError, TypeError, ValueError) as exc:
            raise SerializerError(f"Writing HDF5 file {path} failed: {exc}") from exc

    def dump_with_sha256(self, obj: Any, path: Path) -> PendingDigest | None:
        """Write like `dump`, hashing the file while its large arrays are written."""
        from lume_assets.storage.hdf5_checksum import dump_hashed

        try:
            return dump_hashed(obj, path, self.options)
        except SerializerError:
            raise
        except (OSError, TypeError, ValueError) as exc:
            raise SerializerError(f"Writing HDF5 file {path} failed: {exc}") from exc

    def load(self, path: Path) -> Any:
        """Read the HDF5 file at `path` into the nested structure."""
        try:
            with h5py.File(path, "r") as fh:
                if _marker(fh) == _ROOT_VALUE:
                    return read_node(fh[_ROOT_VALUE])
                return read_group(fh)
        except SerializerError:
            raise
        except (OSError, TypeError, ValueError) as exc:
            raise SerializerError(
                f"Reading HDF5 file {path} failed: {exc}. Is it an HDF5 file?"
            ) from exc
