"""Parameter-scan grids cut into chunks: one chunk = one partition = one vectorized call.

A 10,000-point scan is not 10,000 runs (the backfill daemon queues about one run a second): the
grid is split into chunks of `chunk_size` points, each chunk a static partition, and a
single-run backfill evaluates every chunk in one run. Points are produced as columns (numpy
arrays), ready for a model's batch function.

Chunk size (`chunk_size`, default `auto_chunk_size`): every chunk costs a fixed ~30–50 ms (its
HDF5 file with an fsync, one store transaction, its cache query, a progress line and a
materialization event in Dagster's event log), so small chunks make large scans slow: a
100,000-point focus scan took 13.0 s of CPU in chunks of 1,000 and 8.2 s in chunks of 10,000
or 20,000 (bench/RESULTS.md, "Scans at scale"). Large chunks cost memory (every chunk in flight
holds its points, outputs and Results: ~2.5 KB a focus point) and fewer, coarser progress lines
and partitions, and a parallel runner needs several chunks to share out. So the default keeps
1,000 points a chunk up to 16,000 points (small scans are cut as before), then cuts a scan into
16 chunks, up to 10,000 points a chunk (100 chunks for a million points). Slow models want
smaller chunks (more of them to run in parallel): set `chunk_size`.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import repeat
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lume_assets.errors import ModelInputError
from lume_assets.models.model import ModelSpec

AUTO_CHUNK_MIN = 1_000  # points a chunk, at least (module docstring)
AUTO_CHUNK_MAX = 10_000  # points a chunk, at most
AUTO_CHUNKS = 16  # chunks a scan is cut into between the two


def auto_chunk_size(size: int) -> int:
    """The default points per chunk of a `size`-point scan (module docstring)."""
    return min(AUTO_CHUNK_MAX, max(AUTO_CHUNK_MIN, -(-size // AUTO_CHUNKS)))


class LinSpace(BaseModel):
    """Evenly spaced values from `start` to `stop` inclusive."""

    model_config = ConfigDict(extra="forbid")

    start: float
    stop: float
    num: int = Field(ge=1)

    def values(self) -> np.ndarray:
        """Return the values."""
        return np.linspace(self.start, self.stop, self.num)


class ScanSpec(BaseModel):
    """A parameter scan: axes (lists or linspaces), fixed inputs, how axes combine, chunking."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Scan (asset) name.")
    axes: dict[str, list[float] | LinSpace] = Field(min_length=1)
    fixed: dict[str, Any] = Field(default_factory=dict, description="Inputs equal at all points.")
    combine: Literal["product", "zip"] = Field(
        default="product", description="product: every combination; zip: i-th with i-th."
    )
    chunk_size: int | None = Field(
        default=None,
        ge=1,
        description="Points per partition (default: auto_chunk_size of the scan's size).",
    )
    plot_output: str | None = Field(
        default=None,
        description="Scalar output of the overview plot (default: the model's first scalar).",
    )

    @model_validator(mode="after")
    def _check(self) -> ScanSpec:
        """Refuse zip axes of unequal length and axes that are also fixed; size the chunks."""
        overlap = sorted(set(self.axes) & set(self.fixed))
        if overlap:
            raise ValueError(f"inputs {overlap} are both scanned and fixed; keep one")
        if self.combine == "zip":
            lengths = {name: len(self.axis_values(name)) for name in self.axes}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"zip axes must have equal lengths, got {lengths}")
        if self.chunk_size is None:
            self.chunk_size = auto_chunk_size(self.size)
        return self

    def axis_values(self, name: str) -> np.ndarray:
        """Return the values of axis `name`."""
        axis = self.axes[name]
        return axis.values() if isinstance(axis, LinSpace) else np.asarray(axis, dtype=float)

    @property
    def size(self) -> int:
        """Return the number of points."""
        lengths = [len(self.axis_values(n)) for n in self.axes]
        return int(np.prod(lengths)) if self.combine == "product" else lengths[0]

    def columns(self) -> dict[str, np.ndarray]:
        """Return every point as one array per scanned input (row i = point i)."""
        names = list(self.axes)
        if self.combine == "zip":
            return {n: self.axis_values(n) for n in names}
        mesh = np.meshgrid(*(self.axis_values(n) for n in names), indexing="ij")
        return {n: m.ravel() for n, m in zip(names, mesh, strict=True)}

    def chunk_keys(self) -> list[str]:
        """Return the partition keys, one per chunk: '<name>-00000', '<name>-00001', ..."""
        count = -(-self.size // self.chunk_size)
        width = max(5, len(str(count)))
        return [f"{self.name}-{i:0{width}d}" for i in range(count)]

    def chunk_index(self, key: str) -> int:
        """Return the chunk number of a partition key."""
        prefix = f"{self.name}-"
        if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
            raise KeyError(f"{key!r} is not a chunk key of scan {self.name!r}")
        return int(key[len(prefix) :])

    def chunk_bounds(self, key: str) -> tuple[int, int]:
        """Return the (start, stop) point indices of one chunk."""
        start = self.chunk_index(key) * self.chunk_size
        return start, min(start + self.chunk_size, self.size)

    def chunk_columns(self, key: str, columns: dict[str, np.ndarray] | None = None) -> dict:
        """Return the scanned columns of one chunk (slices of `columns` if given)."""
        start, stop = self.chunk_bounds(key)
        cols = columns if columns is not None else self.columns()
        return {n: c[start:stop] for n, c in cols.items()}

    def chunk_points(self, key: str, columns: dict[str, np.ndarray] | None = None) -> list[dict]:
        """Return one chunk as a list of complete input mappings (fixed values included)."""
        cols = self.chunk_columns(key, columns)
        names = list(cols)
        rows: Iterator[tuple] = zip(*(cols[n].tolist() for n in names), strict=True)
        return [{**self.fixed, **dict(zip(names, row, strict=True))} for row in rows]


class CheckedGrid:
    """A scan whose inputs were validated once per axis value (`check_axes`): its chunks'
    points come out already validated, as `validate_points` of `chunk_points` gives them."""

    def __init__(self, scan: ScanSpec, names: list[str], constants: dict[str, Any]) -> None:
        """`names`: the model's inputs in order; `constants`: the validated non-axis values."""
        self.scan, self.names, self.constants = scan, names, constants

    def chunk_points(self, key: str, columns: dict[str, np.ndarray] | None = None) -> list[dict]:
        """Return one chunk's validated points (the model's input order, axes as floats)."""
        cols = self.scan.chunk_columns(key, columns)
        lists = [cols[n].tolist() if n in cols else repeat(self.constants[n]) for n in self.names]
        names = self.names
        return [dict(zip(names, row)) for row in zip(*lists)]  # noqa: B905 - repeat() is endless


def check_axes(spec: ModelSpec, scan: ScanSpec) -> CheckedGrid | None:
    """Validate `scan`'s inputs once per axis value instead of once per point, when provably
    the same; else None (validate every point, which also gives the failing point's message).

    The same when every model input is a scalar: a scalar's check (type, finiteness, range,
    constant) depends on its own value only, so checking each axis value and the fixed and
    default values once accepts exactly the points a per-point check accepts, and gives each
    the same floats. Any refusal (a value out of range, NaN, an unknown or missing input)
    returns None, so the per-point path raises its usual message in the chunk where it occurs.
    """
    inputs = spec.input_map
    if any(v.kind != "scalar" for v in spec.inputs) or not set(scan.axes) <= set(inputs):
        return None
    axes = {name: scan.axis_values(name).tolist() for name in scan.axes}
    try:
        sample = spec.validate_inputs({**scan.fixed, **{n: v[0] for n, v in axes.items()}})
        for name, values in axes.items():
            var = inputs[name]
            for value in dict.fromkeys(values):
                var.validate_value(value, "input")
    except ModelInputError:
        return None
    constants = {n: v for n, v in sample.items() if n not in axes}
    return CheckedGrid(scan, list(sample), constants)
