"""Parameter-scan grids cut into chunks: one chunk = one partition = one vectorized call.

A 10,000-point scan is not 10,000 runs (the backfill daemon queues about one run a second): the
grid is split into chunks of `chunk_size` points, each chunk a static partition, and a
single-run backfill evaluates every chunk in one run. Points are produced as columns (numpy
arrays), ready for a model's batch function.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    chunk_size: int = Field(default=1000, ge=1, description="Points per partition.")
    plot_output: str | None = Field(
        default=None,
        description="Scalar output of the overview plot (default: the model's first scalar).",
    )

    @model_validator(mode="after")
    def _check(self) -> ScanSpec:
        """Refuse zip axes of unequal length and axes that are also fixed."""
        overlap = sorted(set(self.axes) & set(self.fixed))
        if overlap:
            raise ValueError(f"inputs {overlap} are both scanned and fixed; keep one")
        if self.combine == "zip":
            lengths = {name: len(self.axis_values(name)) for name in self.axes}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"zip axes must have equal lengths, got {lengths}")
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
