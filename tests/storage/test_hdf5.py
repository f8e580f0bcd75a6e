"""HDF5Serializer: bit-exact round trips, the H5Node attrs convention, foreign files, layout."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from lume_assets.errors import SerializerError
from lume_assets.storage.hdf5 import (
    CHUNK_BYTES,
    MARKER,
    H5Node,
    HDF5Serializer,
    chunk_shape,
    describe_file,
    read_group,
    write_group,
)
from tests.storage.conftest import assert_identical

NUMERIC_DTYPES = [
    "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8",
    "f2", "f4", "f8", "g", "c8", "c16", "?",
    ">f8", ">i4", ">c16", "<f2",
]  # fmt: skip


def round_trip(obj: Any, path: Path, **kw: Any) -> Any:
    ser = HDF5Serializer(**kw)
    ser.dump(obj, path)
    return ser.load(path)


def sample(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(7)
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    if dt.kind == "b":
        return (rng.integers(0, 2, n) == 1).reshape(shape)
    raw = rng.integers(0, 256, n * dt.itemsize, dtype=np.uint8).tobytes()
    arr = np.frombuffer(raw, dtype=dt).reshape(shape).copy()
    if dt.kind in "fc" and n:  # random bits include NaN payloads too: bit-exact is the claim
        arr.flat[0] = np.nan
    return arr


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES)
@pytest.mark.parametrize("shape", [(0,), (5,), (3, 4, 2)])
def test_every_numeric_dtype_round_trips_bit_exact(tmp_path: Path, dtype: str, shape) -> None:
    arr = sample(dtype, shape)
    scalar = arr.flat[0] if arr.size else np.dtype(dtype).type(1)
    back = round_trip({"a": arr, "s": scalar, "z": np.asarray(scalar)}, tmp_path / "x.h5")
    assert_identical({"a": arr, "s": scalar, "z": np.asarray(scalar)}, back)


def test_large_array_chunked_round_trip_and_layout(tmp_path: Path) -> None:
    big = sample("f8", (700, 500))  # 2.7 MiB
    small = np.arange(10.0)
    back = round_trip({"big": big, "small": small}, tmp_path / "x.h5")
    assert_identical({"big": big, "small": small}, back)
    with h5py.File(tmp_path / "x.h5") as fh:
        chunks = fh["big"].chunks
        assert chunks is not None and chunks[1] == 500
        nbytes = int(np.prod(chunks)) * 8
        assert CHUNK_BYTES // 2 < nbytes <= CHUNK_BYTES
        assert fh["small"].chunks is None
        assert fh["big"].compression is None


def test_compression_is_applied_when_asked(tmp_path: Path) -> None:
    arr = np.zeros((1000, 300))
    back = round_trip({"x": arr}, tmp_path / "x.h5", compression="gzip", compression_opts=4)
    assert_identical({"x": arr}, back)
    with h5py.File(tmp_path / "x.h5") as fh:
        assert fh["x"].compression == "gzip"
    assert (tmp_path / "x.h5").stat().st_size < arr.nbytes / 10


def test_unknown_compression_is_refused() -> None:
    with pytest.raises(SerializerError, match="gzip"):
        HDF5Serializer(compression="zstd-please")


@pytest.mark.parametrize(
    ("shape", "itemsize", "expected"),
    [((10,), 8, (10,)), ((1 << 20,), 8, (131072,)), ((10, 1 << 18), 8, (1, 131072))],
)
def test_chunk_shape_targets_one_mebibyte(shape, itemsize, expected) -> None:
    assert chunk_shape(shape, itemsize) == expected


def test_strings_and_unicode_arrays_round_trip(tmp_path: Path) -> None:
    obj = {
        "title": "Lattice FODO ✓ ünïcödé",
        "raw": b"ascii bytes",
        "binary": b"\x00\x01\xff",
        "names": np.array(["quad", "bend", "ψ"], dtype="<U7"),
        "fixed": np.array([b"ab", b"c"], dtype="S2"),
        "vlen_str": np.array(["a", "bcd"], dtype=object),
        "vlen_bytes": np.array([b"a", b"bcd"], dtype=object),
        "np_str": np.str_("scalar"),
        "u0": np.array("zero-d", dtype="<U6"),
    }
    back = round_trip(obj, tmp_path / "s.h5")
    expected = dict(obj, np_str=np.array("scalar", dtype="<U6"))
    assert_identical(expected, back)


def test_nested_python_structures_round_trip(tmp_path: Path) -> None:
    obj = {
        "run": {
            "params": {"energy": 1.5e9, "n": 42, "ok": True, "z": 1 + 2j, "none": None},
            "deep": {"a": {"b": {"c": {"d": np.arange(3, dtype="u2")}}}},
        },
        "ints": [1, 2, 3],
        "floats": [0.1, 0.2],
        "bools": [True, False],
        "strs": ["x", "yy"],
        "matrix": [[1, 2], [3, 4]],
        "mixed": [1, 2.5, "three", None, {"four": np.ones(2)}, [5, "six"]],
        "empty_list": [],
        "empty_dict": {},
        "nan": float("nan"),
    }
    back = round_trip(obj, tmp_path / "n.h5")
    assert_identical(obj, back)
    assert back["mixed"][0] == 1 and type(back["mixed"][0]) is int
    assert round_trip({"t": (1, 2)}, tmp_path / "t.h5") == {"t": [1, 2]}  # tuples -> lists


def test_top_level_non_dict_values_round_trip(tmp_path: Path) -> None:
    arr = sample("c8", (4, 4))
    assert_identical(arr, round_trip(arr, tmp_path / "a.h5"))
    assert round_trip("just text", tmp_path / "b.h5") == "just text"
    assert round_trip([1, "a"], tmp_path / "c.h5") == [1, "a"]


def test_h5node_attributes_on_groups_datasets_and_root(tmp_path: Path) -> None:
    obj = H5Node(
        {
            "beam": H5Node(
                {"x": H5Node(np.linspace(0, 1, 5), {"units": "m", "scale": np.float32(2.0)})},
                {"species": "electron", "charge": np.float64(-1.6e-19), "n": np.int32(3)},
            ),
            "plain": np.arange(3),
        },
        {"code": "impact-t", "version": np.array([1, 2, 3]), "flags": b"ascii"},
    )
    back = round_trip(obj, tmp_path / "h.h5")
    assert_identical(obj, back)
    with h5py.File(tmp_path / "h.h5") as fh:  # plain h5py sees ordinary attributes
        assert fh.attrs["code"] == "impact-t"
        assert fh["beam"].attrs["species"] == "electron"
        assert fh["beam/x"].attrs["units"] == "m"
        assert MARKER not in fh["beam/x"].attrs


def make_simulation_file(path: Path) -> None:
    """A file the way simulation codes write one, using plain h5py only."""
    with h5py.File(path, "w") as fh:
        fh.attrs["software"] = np.bytes_(b"IMPACT-T")  # fixed-length string attr
        fh.attrs.create("date", "2024-05-01", dtype=h5py.string_dtype("ascii"))
        fh.attrs["title"] = "Überlauf run"  # vlen utf-8 attr
        fh.attrs["nsteps"] = np.int32(1000)
        fh.attrs["dt"] = 1e-12
        fh.attrs["origin"] = np.array([0.0, 0.0, -1.5])
        fh.attrs["labels"] = np.array([b"x", b"px"], dtype="S2")
        fh.attrs["empty"] = h5py.Empty("f4")
        data = fh.create_group("data")
        for step in ("000100", "000200"):
            g = data.create_group(step).create_group("particles").create_group("electrons")
            g.attrs["numParticles"] = np.uint64(64)
            g.attrs["unitDimension"] = np.array([1.0, 0, 0, 0, 0, 0, 0])
            for comp in ("x", "y", "z"):
                ds = g.create_dataset(
                    f"position/{comp}", data=sample("f8", (64,)), chunks=(16,), compression="gzip"
                )
                ds.attrs["unitSI"] = 1.0
                ds.attrs["unitSymbol"] = np.bytes_(b"m")
            g["id"] = np.arange(64, dtype=">u8")
            g["weight"] = np.float32(0.5)  # scalar dataset
        fh["lattice/names"] = np.array([b"Q1", b"D1", b"B1"], dtype="S4")
        fh.create_dataset("lattice/notes", data=["a", "bb"], dtype=h5py.string_dtype())
        fh.create_dataset("lattice/tags", data=[b"x", b"y"], dtype=h5py.string_dtype("ascii"))
        fh["lattice/input_deck"] = b"&run n=1 /"  # vlen ascii scalar
        fh.create_dataset("lattice/nothing", data=h5py.Empty("f8"))
        rec = np.zeros(3, dtype=[("s", "f8"), ("name", "S3"), ("n", "i2")])
        rec["s"] = [0.0, 1.0, 2.0]
        rec["name"] = [b"Q1", b"D1", b"B1"]
        fh["lattice/table"] = rec
        fh["lattice/table"].attrs["rows"] = np.int64(3)


def h5_inventory(path: Path) -> dict[str, Any]:
    """Every object of a file: dtypes, shapes, value bytes and attributes (name, dtype, value)."""
    inv: dict[str, Any] = {}

    def attrs_of(obj: Any) -> dict[str, Any]:
        out = {}
        for k in obj.attrs:
            v = obj.attrs[k]
            dt = obj.attrs.get_id(k).dtype
            out[k] = (str(dt), h5py.check_string_dtype(dt), repr(v))
        return out

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            if obj.shape is None:
                value = "EMPTY"
            elif h5py.check_string_dtype(obj.dtype) and obj.dtype.kind == "O":
                value = repr(obj[()])
            else:
                value = np.asarray(obj[()]).tobytes()
            info = h5py.check_string_dtype(obj.dtype)
            inv[name] = ("dataset", str(obj.dtype), info, obj.shape, value, attrs_of(obj))
        else:
            inv[name] = ("group", attrs_of(obj))

    with h5py.File(path, "r") as fh:
        inv["/"] = ("group", attrs_of(fh))
        fh.visititems(visit)
    return inv


def test_foreign_simulation_file_reads_and_writes_back_intact(tmp_path: Path) -> None:
    original = tmp_path / "sim.h5"
    make_simulation_file(original)
    ser = HDF5Serializer()
    obj = ser.load(original)
    # the nested structure: attrs where the file has them, plain values elsewhere
    assert isinstance(obj, H5Node) and obj.attrs["software"] == b"IMPACT-T"
    electrons = obj.value["data"]["000100"]["particles"]["electrons"]
    assert int(electrons.attrs["numParticles"]) == 64
    assert electrons.value["position"]["x"].attrs["unitSymbol"] == b"m"
    assert obj.value["lattice"]["input_deck"] == b"&run n=1 /"
    assert obj.value["lattice"]["notes"].tolist() == ["a", "bb"]
    copy = tmp_path / "copy.h5"
    ser.dump(obj, copy)
    assert h5_inventory(copy) == h5_inventory(original)
    assert_identical(obj, ser.load(copy))


def test_group_functions_write_and_read_inside_an_open_file(tmp_path: Path) -> None:
    obj = {"x": np.arange(4.0), "meta": H5Node({"k": 1}, {"note": "n"})}
    with h5py.File(tmp_path / "g.h5", "w") as fh:
        write_group(fh.create_group("partition_a"), obj)
        write_group(fh.create_group("partition_b"), {"y": "b"})
    with h5py.File(tmp_path / "g.h5", "r") as fh:
        assert_identical(obj, read_group(fh["partition_a"]))
        assert read_group(fh["partition_b"]) == {"y": "b"}
    names = {r["name"]: r for r in describe_file(tmp_path / "g.h5")}
    assert names["/partition_a/x"] == {
        "name": "/partition_a/x",
        "shape": "(4,)",
        "dtype": "float64",
    }
    assert names["/partition_b/y"]["dtype"] == "string (utf-8)"


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"a/b": 1}, "without '/'"),
        ({"x": object()}, "Cannot store"),
        ({"x": 2**70}, "64 bits"),
        ({"x": np.array([1, "a", None], dtype=object)}, "dtype object"),
        ({"x": H5Node(1, {"bad": {"nested": 1}})}, "Attribute"),
    ],
)
def test_unstorable_values_give_actionable_errors(tmp_path: Path, obj: Any, match: str) -> None:
    with pytest.raises(SerializerError, match=match):
        HDF5Serializer().dump(obj, tmp_path / "e.h5")


def test_reading_a_non_hdf5_file_is_a_serializer_error(tmp_path: Path) -> None:
    (tmp_path / "n.h5").write_text("not hdf5")
    with pytest.raises(SerializerError, match="HDF5"):
        HDF5Serializer().load(tmp_path / "n.h5")


@pytest.mark.parametrize(
    "obj",
    [
        {"x": sample("f8", (393223,))},  # 3 MiB + an edge chunk
        {"m": {"deep": sample("f4", (1001, 700))}, "s": "text", "small": np.arange(5)},
        {"wide": sample("f8", (3, 300001))},  # chunks split the trailing axis
        {"t": sample("c8", (7, 300, 101)), "b": sample("?", (3_000_001,))},
        {
            "be": sample(">i8", (300000,)),
            "h": sample("f2", (1_000_003,)),
            "g": sample("g", (99999,)),
        },
        H5Node({"x": H5Node(sample("u2", (600001,)), {"unit": "count"})}, {"code": "x"}),
    ],
)
def test_sha256_computed_while_writing_is_the_file_digest(tmp_path: Path, obj: Any) -> None:
    path = tmp_path / "h.h5"
    pending = HDF5Serializer().dump_with_sha256(obj, path)
    assert pending is not None  # large arrays: hashed while written, not afterwards
    data = path.read_bytes()
    assert pending.digest() == (hashlib.sha256(data).hexdigest(), len(data))
    assert_identical(obj, HDF5Serializer().load(path))
    with h5py.File(path) as fh:  # and plain h5py reads the same arrays
        for name, value in (obj.value if isinstance(obj, H5Node) else obj).items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(fh[name][()], value)


def test_sha256_while_writing_falls_back_for_small_or_compressed_files(tmp_path: Path) -> None:
    assert HDF5Serializer().dump_with_sha256({"x": np.arange(10)}, tmp_path / "a.h5") is None
    assert (
        HDF5Serializer(compression="gzip").dump_with_sha256(
            {"x": np.zeros(10**6)}, tmp_path / "b.h5"
        )
        is None
    )
    assert HDF5Serializer().load(tmp_path / "b.h5")["x"].shape == (10**6,)


def test_hash_plan_covers_the_file_and_refuses_overlaps() -> None:
    from lume_assets.storage.hdf5_checksum import _plan, _Segment

    data = memoryview(b"x" * 10)
    plan = _plan([_Segment(30, 40, data), _Segment(10, 20, data)], 50)
    assert [(s.start, s.end, s.data is not None) for s in plan] == [
        (0, 10, False), (10, 20, True), (20, 30, False), (30, 40, True), (40, 50, False)
    ]  # fmt: skip
    with pytest.raises(ValueError):
        _plan([_Segment(10, 20, data), _Segment(15, 25, data)], 50)
    with pytest.raises(ValueError):
        _plan([_Segment(45, 55, data)], 50)
