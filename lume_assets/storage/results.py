"""The `Result` record (one model evaluation) and the canonical inputs hash that identifies it.

Canonical form hashed by `compute_inputs_hash` (sha256, hex) — the JSON text of
``{"inputs": <canonical inputs>, "model": <name>, "version": <version>}`` written with sorted
keys, ``separators=(",", ":")`` and ``ensure_ascii=False``, where a canonical value is:

- ``None``, ``bool`` and ``str`` as themselves (``True`` stays ``true``, it never equals ``1``);
- a number (Python or numpy scalar, any width): an integral finite value becomes a JSON integer
  (``1``, ``1.0``, ``np.int8(1)`` and ``np.float32(1)`` all give ``1``, ``-0.0`` gives ``0``);
  any other finite float is written by ``repr`` of its float64 value (shortest round-trip);
  NaN and infinities become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``;
- a complex number: ``{"__complex__": [re, im]}`` with both parts canonicalized as above;
- a numpy array, list or tuple: the JSON list of its canonical elements (so ``np.arange(3)`` and
  ``[0, 1, 2]`` hash alike);
- a mapping: keys must be strings; sorted by key.

Anything else (objects, bytes, datetimes) is refused with a `SerializerError` naming the path.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lume_assets.errors import QueryError, SerializerError
from lume_assets.storage.encoding import check_text
from lume_assets.storage.files import FileRecord
from lume_assets.storage.particles import is_particle_group, particles_record

__all__ = [
    "Provenance",
    "Result",
    "canonical_inputs",
    "check_inputs_hash",
    "check_inputs_hashes",
    "compute_inputs_hash",
    "compute_inputs_hashes",
    "construct_model",
    "construct_results",
    "utc_now_ms",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")


def _canonical_number(value: float) -> int | float | str:
    """Return the canonical JSON form of a real number."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if float(value).is_integer():
        return int(value)
    return float(value)


def canonical_inputs(value: Any, path: str = "inputs") -> Any:
    """Return `value` in the canonical JSON-ready form described in the module docstring."""
    if isinstance(value, str):
        return check_text(str(value), path)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _canonical_number(float(value))
    if isinstance(value, complex | np.complexfloating):
        c = complex(value)
        return {"__complex__": [_canonical_number(c.real), _canonical_number(c.imag)]}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OV":
            raise SerializerError(
                f"{path}: numpy arrays of dtype {value.dtype} cannot be hashed; "
                "use numeric, bool or string arrays."
            )
        return [canonical_inputs(v, f"{path}[{i}]") for i, v in enumerate(value.tolist())]
    if isinstance(value, list | tuple):
        return [canonical_inputs(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializerError(f"{path}: key {key!r} is not a string; use string keys.")
            check_text(key, f"{path} (a key)")
            out[key] = canonical_inputs(item, f"{path}.{key}")
        return out
    if is_particle_group(value):  # by content: every coordinate, bit for bit
        return canonical_inputs(particles_record(value), path)
    raise SerializerError(
        f"{path}: a value of type {type(value).__name__} cannot be part of the inputs hash; "
        "use numbers, strings, bools, None, lists, dicts or numpy arrays."
    )


_CANONICAL_JSON = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _canonical_flat(inputs: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the canonical form of a flat mapping of plain Python scalars with ASCII text
    (a scan point: the hot path), exactly as `canonical_inputs` gives it; None for anything
    else (the general path decides, and raises its errors)."""
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        if type(key) is not str or not key.isascii():
            return None
        kind = type(value)
        if kind is float:
            if value.is_integer():
                value = int(value)
            elif value - value != 0:  # NaN or an infinity: spelled as a string
                return None
        elif kind is str:
            if not value.isascii():
                return None
        elif kind is not int and kind is not bool and value is not None:
            return None
        out[key] = value
    return out


def compute_inputs_hash(model: str, version: str, inputs: Mapping[str, Any]) -> str:
    """Return the sha256 hex digest identifying (model, version, canonical inputs)."""
    flat = _canonical_flat(inputs)
    canonical = flat if flat is not None else canonical_inputs(dict(inputs))
    text = _CANONICAL_JSON.encode({"inputs": canonical, "model": model, "version": version})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compute_inputs_hashes(
    model: str, version: str, points: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Return `compute_inputs_hash` of every point, formatting a batch of flat points at once.

    A point whose keys are the first point's and whose values are all plain finite Python
    floats or ints (a scan chunk) is written straight into the canonical JSON text (a float by
    `repr`, an integral one as an int: what the encoder writes for `_canonical_flat`'s form);
    any other point takes `compute_inputs_hash`. The digests are the same either way.
    """
    if not points:
        return []
    keys = sorted(points[0])
    if any(type(k) is not str for k in keys):
        return [compute_inputs_hash(model, version, p) for p in points]
    head = '{"inputs":{'
    tail = "}," + _CANONICAL_JSON.encode({"model": model, "version": version})[1:]
    labels = [_CANONICAL_JSON.encode(k) + ":" for k in keys]
    width = len(keys)
    sha256 = hashlib.sha256
    out = []
    for point in points:
        parts = []
        if len(point) == width:
            for label, key in zip(labels, keys, strict=True):
                value = point.get(key, point)  # `point` itself: the key is missing
                kind = type(value)
                if kind is float:
                    if value.is_integer():
                        value = int(value)
                    elif value - value != 0:  # NaN or an infinity
                        break
                elif kind is not int:
                    break
                parts.append(label + repr(value))
        if len(parts) == width:
            text = head + ",".join(parts) + tail
            out.append(sha256(text.encode()).hexdigest())
        else:
            out.append(compute_inputs_hash(model, version, point))
    return out


def check_inputs_hash(value: object) -> str:
    """Return `value` if it is a 64-hex sha256 inputs hash; else raise QueryError (no lookup)."""
    if isinstance(value, str) and _HEX64.fullmatch(value):
        return value
    shown = repr(value)[:80] if isinstance(value, str) else f"a {type(value).__name__}"
    raise QueryError(
        f"inputs_hash: expected a 64-character lowercase hex sha256, got {shown}; "
        "pass the full hash shown by `lume-assets results --json`."
    )


def check_inputs_hashes(values: Iterable[object]) -> list[str]:
    """Return the distinct hashes of `values` (in order), each checked by `check_inputs_hash`."""
    if isinstance(values, str | bytes | Mapping):
        raise QueryError(
            f"inputs_hashes: expected a list of hashes, got a {type(values).__name__}."
        )
    return list(dict.fromkeys(check_inputs_hash(v) for v in values))


def utc_now_ms() -> datetime:
    """Return the current UTC time truncated to milliseconds (what BSON dates can hold)."""
    return _truncate_ms(datetime.now(UTC))


def _truncate_ms(value: datetime) -> datetime:
    """Return `value` in UTC with microseconds truncated to whole milliseconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def with_file_digests(
    inputs: Mapping[str, Any], input_files: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    """Inputs for hashing: a managed file input counts by its content (sha256), not its path."""
    if not input_files:
        return dict(inputs)
    return {**inputs, **{f"{k}@sha256": v["sha256"] for k, v in input_files.items()}}


class Provenance(BaseModel):
    """Where a result came from: the Dagster run and asset, the code, and its file outputs."""

    model_config = ConfigDict(extra="forbid")

    run_id: str | None = None
    asset_key: str | None = Field(default=None, description="Asset key as 'a/b/c'.")
    partition_key: str | None = None
    code_sha: str | None = None
    files: dict[str, FileRecord] = Field(
        default_factory=dict,
        description="Output name -> its file (root-relative and host path, bytes, sha256).",
    )
    deployment_id: int | str | None = None
    input_files: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="File input -> {path, sha256} of the upstream managed file it was fed.",
    )

    @field_validator("files", mode="before")
    @classmethod
    def _legacy_paths(cls, value: Any) -> Any:
        """Read records written before files carried a checksum (a bare host path)."""
        if not isinstance(value, Mapping):
            return value
        return {
            name: {"path": v, "host_path": v, "bytes": 0, "serializer": ""}
            if isinstance(v, str)
            else v
            for name, v in value.items()
        }


class Result(BaseModel):
    """One model evaluation: model, version, inputs, outputs, their hash and provenance."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    model: str = Field(min_length=1)
    version: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    inputs_hash: str = Field(default="", description="sha256 of model, version, inputs.")
    created: datetime = Field(default_factory=utc_now_ms)
    provenance: Provenance = Field(default_factory=Provenance)
    published: bool = Field(
        default=True, description="False while an approval gate holds the result back."
    )

    @field_validator("created")
    @classmethod
    def _created_utc_ms(cls, value: datetime) -> datetime:
        """Keep `created` in UTC at millisecond precision so every store round-trips it."""
        return _truncate_ms(value)

    @model_validator(mode="after")
    def _check_hash(self) -> Result:
        """Fill in `inputs_hash`, or refuse one that does not match model/version/inputs."""
        expected = compute_inputs_hash(
            self.model, self.version, with_file_digests(self.inputs, self.provenance.input_files)
        )
        if not self.inputs_hash:
            self.inputs_hash = expected
        elif self.inputs_hash != expected:
            raise ValueError(
                f"inputs_hash {self.inputs_hash!r} does not match model {self.model!r}, "
                f"version {self.version!r} and the inputs (expected {expected!r}); "
                "leave inputs_hash empty to have it computed."
            )
        return self


def _plain_dict(cls: type[BaseModel]) -> bool:
    """Whether `cls` is built by model_construct as a plain __dict__ (no aliases, private
    attributes, extra fields or post-init): then `construct_model` does the same, faster."""
    return (
        not cls.__private_attributes__
        and not cls.__pydantic_post_init__
        and not cls.__pydantic_root_model__
        and cls.model_config.get("extra") != "allow"
        and all(f.alias is None and f.validation_alias is None for f in cls.model_fields.values())
    )


_PLAIN: dict[type[BaseModel], bool] = {}


def construct_model(cls: type[Any], values: dict[str, Any]) -> Any:
    """`cls.model_construct(**values)` of a model validated before (ALL its fields given, in
    declared order; `values` becomes its `__dict__`), without model_construct's per-field loop
    (a `Result` in ~1 µs: a store's `find_one`, a scan chunk's records)."""
    plain = _PLAIN.get(cls)
    if plain is None:
        plain = _PLAIN[cls] = _plain_dict(cls)
    if not plain:
        return cls.model_construct(**values)
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def construct_results(rows: Sequence[Mapping[str, Any]]) -> list[Result]:
    """`Result.model_construct(**row)` of every row (all fields given, trusted), built faster
    (`construct_model`); a plain dict row whose keys are the fields in declared order becomes
    the Result's `__dict__` itself: the caller hands it over."""
    fields = list(Result.model_fields)
    return [
        construct_model(
            Result,
            row if type(row) is dict and list(row) == fields else {f: row[f] for f in fields},
        )
        for row in rows
    ]
