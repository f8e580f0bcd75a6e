"""Values that did not round-trip (issue 11 #5): each comes back exactly or is refused with a
`LumeError` naming its path — through the codec, real SQLite and MongoDB-protocol stores, HDF5."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lume_assets.errors import LumeError, SerializerError
from lume_assets.storage.encoding import Codec
from lume_assets.storage.hdf5 import HDF5Serializer
from lume_assets.storage.result_stores import open_result_store
from lume_assets.storage.results import Result, compute_inputs_hash
from tests.storage.conftest import assert_identical

EXACT: dict[str, Any] = {
    "longdouble": np.longdouble(1) / np.longdouble(3),
    "clongdouble": np.clongdouble(1 + 2j) / np.longdouble(3),
    "timedelta_ns": np.timedelta64(5, "ns"),
    "timedelta_s": np.timedelta64(-7, "s"),
    "timedelta_nat": np.timedelta64("NaT", "ms"),
    "datetime_ns": np.datetime64("2020-01-01T00:00:00.123456789"),
    "in_list": [np.longdouble(2) / np.longdouble(7), np.timedelta64(3, "D")],
}
SURROGATE = "caf\udce9"  # what os.fsdecode gives for undecodable bytes


def _same(a: Any, b: Any, where: str = "") -> None:
    """assert_identical, with NaT equal to NaT."""
    if isinstance(a, np.timedelta64 | np.datetime64) and np.isnat(a):
        assert type(a) is type(b) and a.dtype == b.dtype and np.isnat(b), where
    elif isinstance(a, np.longdouble | np.clongdouble):  # 80-bit values: padding bytes vary
        assert type(a) is type(b) and a == b, where
    elif isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert_identical(a, b, where)


@pytest.mark.parametrize("binary", ["bytes", "base64"])
@pytest.mark.parametrize("name", sorted(EXACT))
def test_codec_round_trips_numpy_scalars_exactly(binary: str, name: str) -> None:
    codec = Codec(binary=binary)
    _same(codec.decode(codec.encode({name: EXACT[name]}, "outputs"))[name], EXACT[name], name)


@pytest.fixture(params=["sqlite", "mongodb"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file or a fresh database on the Mongo-protocol server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'r.db'}"
    base = request.getfixturevalue("mongo_uri").rstrip("/")
    return f"{base}/odd_values" if base.count("/") == 2 else base


def test_stores_round_trip_numpy_scalars_exactly(store_url: str, tmp_path: Path) -> None:
    result = Result(model="odd", version="1", inputs={"x": 1.0}, outputs=dict(EXACT))
    with open_result_store(store_url, project="odd_values", files_root=tmp_path) as store:
        store.put(result)
        back = store.get(result.inputs_hash)
    for name, value in EXACT.items():
        _same(back.outputs[name], value, name)


@pytest.mark.parametrize(
    ("outputs", "path"),
    [
        ({"text": SURROGATE}, "outputs.text"),
        ({"nested": {"list": ["ok", SURROGATE]}}, "outputs.nested.list[1]"),
        ({SURROGATE: 1.0}, "outputs (a key)"),
    ],
)
def test_stores_refuse_surrogates_naming_the_path(
    store_url: str, tmp_path: Path, outputs: dict, path: str
) -> None:
    result = Result(model="odd", version="1", inputs={"x": 2.0}, outputs=outputs)
    with open_result_store(store_url, project="odd_values", files_root=tmp_path) as store:
        with pytest.raises(SerializerError) as info:
            store.put(result)
        assert store.find_one(result.inputs_hash, include_unpublished=True) is None
    assert path in str(info.value) and "\\udce9" in str(info.value)


def test_inputs_hash_refuses_surrogates_naming_the_path() -> None:
    with pytest.raises(LumeError, match=r"inputs\.name: text .* holds a lone surrogate"):
        compute_inputs_hash("m", "1", {"name": SURROGATE})
    with pytest.raises(LumeError, match=r"inputs \(a key\)"):
        Result(model="m", version="1", inputs={SURROGATE: 1})


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        ({"a\x00b": 1.0}, "'a\\x00b'"),
        ({"g": {"k\x00": [1, 2]}}, "'k\\x00'"),
        ({"text": SURROGATE}, "/text"),
        ({"names": ["a", SURROGATE]}, "/names[1]"),
        ({"arr": np.array(["a", SURROGATE])}, "/arr[1]"),
        ({SURROGATE: 1}, "key under HDF5 group"),
        ({"dt": np.timedelta64(5, "ns")}, "/dt: np.timedelta64(5,'ns')"),
        ({"ts": np.array(["2020-01-01"], dtype="M8[D]")}, "/ts: an array of datetime64[D]"),
    ],
)
def test_hdf5_refuses_what_it_cannot_hold_exactly(tmp_path: Path, obj: dict, fragment: str) -> None:
    with pytest.raises(SerializerError) as info:
        HDF5Serializer().dump(obj, tmp_path / "x.h5")
    assert fragment in str(info.value)


def test_hdf5_keeps_longdouble_and_ordinary_keys(tmp_path: Path) -> None:
    obj = {"ld": np.longdouble(1) / np.longdouble(3), "ünïcode key": "ok ✓"}
    ser = HDF5Serializer()
    ser.dump(obj, tmp_path / "x.h5")
    assert_identical(ser.load(tmp_path / "x.h5"), obj)
