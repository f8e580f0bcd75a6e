"""Fixtures for storage tests: a strict deep-equality check (types, dtypes and bytes)."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from lume_assets.storage.hdf5 import H5Node


def assert_identical(a: Any, b: Any, where: str = "") -> None:
    """Fail unless `a` and `b` are equal with the same types, dtypes, shapes and bytes."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, H5Node):
        assert_identical(a.value, b.value, where + ".value")
        assert set(a.attrs) == set(b.attrs), f"{where}: attrs {set(a.attrs)} != {set(b.attrs)}"
        for k in a.attrs:
            assert_identical(a.attrs[k], b.attrs[k], f"{where}@{k}")
    elif isinstance(a, dict):
        assert set(a) == set(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_identical(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and a.dtype.str == b.dtype.str, f"{where}: {a.dtype} != {b.dtype}"
        assert np.shape(a) == np.shape(b), where
        if a.dtype.kind == "O":
            assert np.asarray(a).tolist() == np.asarray(b).tolist(), where
        else:
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), f"{where}: bytes differ"
    elif isinstance(a, h5py.Empty):
        assert a.dtype == b.dtype, where
    elif isinstance(a, float) and a != a:
        assert b != b, where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
