"""One behavioural suite, run unchanged against MongoDB (wire protocol), SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from lume_assets.errors import (
    ConfigError,
    QueryError,
    ResultNotFoundError,
    SerializerError,
    StoreUnavailableError,
)
from lume_assets.storage.encoding import ARRAY_REF
from lume_assets.storage.result_stores import ResultStore, open_result_store, to_dataframe
from lume_assets.storage.results import Provenance, Result
from tests.servers import free_port

ALL_DTYPES = [
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "bool",
]


def make_result(i: int, model: str = "sim", **outputs: object) -> Result:
    """A small result identified by input i."""
    return Result(
        model=model,
        version="1.0",
        inputs={"i": i, "x": float(i) / 2},
        outputs={"energy": i * 1.5, **outputs},
        provenance=Provenance(run_id=f"run-{i}", asset_key="sim/out", partition_key=str(i)),
    )


def sample_array(
    dtype: str, rng: np.random.Generator, shape: tuple[int, ...] = (3, 4)
) -> np.ndarray:
    """Return random values of `dtype` covering its range (incl. NaN/inf for floats)."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    if dt.kind in "iu":
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, size=n, dtype=dt, endpoint=True)
        a[:2] = [info.min, info.max]
    elif dt.kind == "f":
        a = rng.standard_normal(n).astype(dt) * 1e3
        a[:3] = [np.nan, np.inf, -np.inf]
    elif dt.kind == "c":
        a = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dt)
        a[0] = complex(np.nan, np.inf)
    else:
        a = rng.integers(0, 2, size=n).astype(bool)
    return a.reshape(shape)


def assert_same_array(got: object, want: np.ndarray) -> None:
    """Same type, dtype, shape and bytes (NaN payloads included)."""
    assert isinstance(got, np.ndarray), type(got)
    assert got.dtype == want.dtype and got.dtype.str == want.dtype.str
    assert got.shape == want.shape
    assert got.tobytes() == np.ascontiguousarray(want).tobytes()


# -- basic writes and reads ----------------------------------------------------------------------
def test_put_and_find_one_round_trip_the_whole_record(store: ResultStore) -> None:
    r = Result(
        model="sim",
        version="2.1",
        inputs={"a": 1, "nested": {"b": [1, 2.5, "s"], "c": None}},
        outputs={"y": -0.0, "flag": True, "text": "naïve ✓", "n": 2**63 - 1},
        provenance=Provenance(
            run_id="r1",
            asset_key="a/b",
            partition_key="p",
            code_sha="abc",
            files={"log": "logs/r1.txt"},
            deployment_id=7,
        ),
    )
    doc_id = store.put(r)
    assert doc_id and store.document_id(r.inputs_hash) == doc_id
    got = store.find_one(r.inputs_hash)
    assert got is not None
    assert got == r
    assert got.created == r.created and got.created.tzinfo is not None
    assert store.find_one("0" * 64) is None
    with pytest.raises(ResultNotFoundError, match="0000"):
        store.get("0" * 64)


def test_duplicate_writes_of_one_hash_keep_one_document_with_the_latest_content(
    store: ResultStore,
) -> None:
    first = make_result(1, status="first", arr=np.arange(4))
    store.put(first)
    id1 = store.document_id(first.inputs_hash)
    second = make_result(1, status="second", arr=np.arange(4) * 2)
    assert second.inputs_hash == first.inputs_hash
    store.put(second)
    store.put(second)  # a retried write
    store.put_many([second, second, make_result(2)])
    assert store.count() == 2
    assert store.document_id(first.inputs_hash) == id1
    got = store.get(first.inputs_hash)
    assert got.outputs["status"] == "second"
    assert_same_array(got.outputs["arr"], np.arange(4) * 2)


def test_concurrent_writers_of_one_hash_leave_one_document(
    open_store: Callable[..., ResultStore],
) -> None:
    stores = [open_store() for _ in range(6)]  # one connection/engine each, like processes
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def writer(k: int, s: ResultStore) -> None:
        try:
            barrier.wait()
            for j in range(5):
                s.put(make_result(1, writer=k, round=j))
                s.put_many([make_result(2, writer=k), make_result(3 + k)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k, s)) for k, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    check = stores[0]
    assert check.count() == 2 + len(stores)
    assert check.count(filter={"inputs.i": 1}) == 1
    assert check.count(filter={"inputs.i": 2}) == 1
    got = check.get(make_result(1).inputs_hash)
    assert got.outputs["round"] in range(5) and got.outputs["writer"] in range(len(stores))


def test_concurrent_processes_writing_one_hash_leave_one_document(
    store: ResultStore, backend_url: str, tmp_path: Path
) -> None:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.results.writer_process",
                backend_url,
                str(tmp_path / "files"),
                str(k),
                "5",
            ],
            cwd=Path(__file__).resolve().parents[2],
        )
        for k in range(3)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert store.count() == 1
    got = store.find("sim")[0]
    assert got.outputs["writer"] in (0, 1, 2) and got.outputs["round"] == 4


def test_put_many_writes_batches_and_find_filters_by_model(store: ResultStore) -> None:
    assert store.put_many(make_result(i) for i in range(1200)) == 1200
    assert store.put_many([make_result(i, model="other") for i in range(5)]) == 5
    assert store.count() == 1205
    assert store.count("other") == 5
    assert [r.inputs["i"] for r in store.find("other", sort=[("inputs.i", -1)])] == [4, 3, 2, 1, 0]
    assert len(store.find("sim", limit=10)) == 10


# -- encoding ------------------------------------------------------------------------------------
@pytest.mark.parametrize("offload", [False, True], ids=["inline", "offloaded"])
def test_every_dtype_round_trips_exactly(
    open_store: Callable[..., ResultStore], offload: bool
) -> None:
    store = open_store(array_threshold=0 if offload else 1024 * 1024)
    rng = np.random.default_rng(7)
    arrays = {dt: sample_array(dt, rng) for dt in ALL_DTYPES}
    arrays["big_endian_i4"] = np.arange(6, dtype=">i4").reshape(2, 3)
    arrays["fortran"] = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    arrays["strided"] = np.arange(20)[::3]
    arrays["scalar0d"] = np.array(3.25, dtype=np.float32)
    arrays["empty"] = np.zeros((0, 3), dtype=np.int16)
    arrays["unicode"] = np.array([["a", "βγ", ""], ["long string ✓", "x", "y"]])
    arrays["datetime64"] = np.array(["2024-01-01T00:00:00.123", "NaT"], dtype="datetime64[ms]")
    outputs = {
        **arrays,
        "nested": {"list": [np.arange(3, dtype=np.uint16), {"deep": np.ones(2, np.complex64)}]},
        "complex": 1 - 2j,
        "bytes": b"\x00\xffraw",
        "when": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        "np_scalar": np.float32(1.5),
        "int_min": -(2**63),
    }
    r = Result(model="dtypes", version="1", inputs={"k": 1}, outputs=outputs)
    store.put(r)
    got = store.get(r.inputs_hash).outputs
    for name, want in arrays.items():
        assert_same_array(got[name], want)
    assert_same_array(got["nested"]["list"][0], np.arange(3, dtype=np.uint16))
    assert_same_array(got["nested"]["list"][1]["deep"], np.ones(2, np.complex64))
    assert got["complex"] == 1 - 2j and got["bytes"] == b"\x00\xffraw"
    assert got["when"] == outputs["when"]
    assert got["np_scalar"] == 1.5 and got["int_min"] == -(2**63)


def test_non_finite_scalars_round_trip(store: ResultStore) -> None:
    if store.kind == "mongodb" and "version" not in store.client.server_info():  # type: ignore[attr-defined]
        pytest.skip("nx-27017 cannot store NaN/inf as BSON doubles (real MongoDB can): README")
    r = Result(model="m", version="1", outputs={"nan": float("nan"), "inf": float("-inf")})
    store.put(r)
    got = store.get(r.inputs_hash).outputs
    assert np.isnan(got["nan"]) and got["inf"] == float("-inf")
    assert store.count(filter={"outputs.inf": {"$lt": 0}}) == 1


def test_a_50_mib_array_is_stored_via_a_pointer_and_read_back(
    store: ResultStore, tmp_path: Path
) -> None:
    big = np.random.default_rng(0).standard_normal(50 * 1024 * 1024 // 8)
    assert big.nbytes == 50 * 1024 * 1024
    r = Result(model="big", version="1", inputs={"n": big.size}, outputs={"field": big, "s": 1})
    store.put(r)
    store.put(r)  # a retry reuses the content-addressed blob
    doc = store.to_document(r)
    pointer = doc["outputs"]["field"][ARRAY_REF]
    assert pointer["nbytes"] == big.nbytes and pointer["shape"] == [big.size]
    if pointer["store"] == "hdf5":
        files = list((tmp_path / "files").rglob("*.h5"))
        assert [f.name for f in files] == [f"{pointer['name']}.h5"]
    else:
        bucket = store.codec.blobs.bucket  # type: ignore[union-attr]
        names = sorted(f.filename for f in bucket.find({}))
        assert names == [f"{pointer['name']}.{i}" for i in range(4)] == pointer["parts"]
    got = store.get(r.inputs_hash).outputs["field"]
    assert_same_array(got, big)


def test_unstorable_values_are_refused_naming_the_path(store: ResultStore) -> None:
    with pytest.raises(SerializerError, match=r"outputs\.obj"):
        store.put(Result(model="m", version="1", outputs={"obj": np.array([object()])}))
    with pytest.raises(SerializerError, match=r"'a\.b'"):
        store.put(Result(model="m", version="1", outputs={"a.b": 1}))
    with pytest.raises(SerializerError, match="set"):
        store.put(Result(model="m", version="1", outputs={"s": {1, 2}}))
    assert store.count() == 0


# -- queries -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad, op",
    [
        ({"$where": "this.x > 1"}, "$where"),
        ({"outputs.e": {"$function": {"body": "x"}}}, "$function"),
        ({"$expr": {"$gt": ["$a", 1]}}, "$expr"),
        ({"$or": [{"inputs.i": 1}]}, "$or"),
        ({"inputs.i": {"$regex": "1"}}, "$regex"),
        ({"$and": [{"inputs.i": {"$nin": [1]}}]}, "$nin"),
        ({"inputs.i": {"$gt": 1, "$exists": True}}, "$exists"),
    ],
)
def test_refused_operators_name_the_operator_and_the_allowed_ones(
    store: ResultStore, bad: dict, op: str
) -> None:
    store.put(make_result(1))
    with pytest.raises(QueryError) as info:
        store.find("sim", bad)
    assert repr(op) in str(info.value)
    assert "$eq, $ne, $gt, $gte, $lt, $lte, $in, $and" in str(info.value)
    with pytest.raises(QueryError):
        store.count("sim", bad)


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"inputs.x.0": 1}, "positional"),
        ({"inputs": {"i": 1}}, "not queryable"),
        ({"inputs.nested": {"i": 1}}, "sub-document"),
        ({"inputs.i": [1, 2]}, "scalar"),
        ({"secret": 1}, "not queryable"),
        ({"inputs.i": {"$gt": None}}, "non-null"),
        ({"inputs.i": {"$in": 1}}, "list"),
    ],
)
def test_malformed_queries_are_refused(store: ResultStore, bad: dict, words: str) -> None:
    with pytest.raises(QueryError, match=words):
        store.find(filter=bad)


def test_find_sort_limit_and_count(store: ResultStore) -> None:
    store.put_many(make_result(i) for i in range(10))
    hits = store.find("sim", {"inputs.i": {"$gte": 3, "$lt": 8}}, sort=[("outputs.energy", -1)])
    assert [r.inputs["i"] for r in hits] == [7, 6, 5, 4, 3]
    assert store.count("sim", {"inputs.i": {"$gte": 3, "$lt": 8}}) == 5
    top = store.find("sim", sort="inputs.x", limit=3)
    assert [r.inputs["i"] for r in top] == [0, 1, 2]
    with pytest.raises(QueryError, match="limit"):
        store.find(limit=0)
    with pytest.raises(QueryError, match="descending"):
        store.find(sort=[("inputs.i", 2)])


def test_unpublished_results_are_hidden_until_published(store: ResultStore) -> None:
    held = make_result(1).model_copy(update={"published": False})
    store.put(held)
    store.put(make_result(2))
    assert [r.inputs["i"] for r in store.find("sim")] == [2] or store.count("sim") == 1
    assert store.find_one(held.inputs_hash) is None
    assert store.count() == 1 and store.count(include_unpublished=True) == 2
    assert store.find_one(held.inputs_hash, include_unpublished=True) is not None
    published = store.publish(held.inputs_hash)
    assert published.published is True
    assert store.find_one(held.inputs_hash) is not None
    assert store.count() == 2
    with pytest.raises(ResultNotFoundError, match="publish"):
        store.publish("f" * 64)


def test_results_as_a_dataframe(store: ResultStore) -> None:
    store.put_many(make_result(i, vec=np.arange(3)) for i in range(4))
    df = to_dataframe(store.find("sim", sort="inputs.i"))
    assert list(df["inputs.i"]) == [0, 1, 2, 3]
    assert list(df["outputs.energy"]) == [0.0, 1.5, 3.0, 4.5]
    assert list(df["provenance.run_id"]) == ["run-0", "run-1", "run-2", "run-3"]
    assert df["outputs.vec"].iloc[2].tolist() == [0, 1, 2]


def test_projects_are_isolated(open_store: Callable[..., ResultStore]) -> None:
    a, b = open_store(project="alpha"), open_store(project="beta")
    a.put(make_result(1))
    assert a.count() == 1 and b.count() == 0
    assert b.find_one(make_result(1).inputs_hash) is None
    assert "alpha" in a.location and "beta" in b.location


# -- availability ----------------------------------------------------------------------------------
def test_store_down_gives_a_clear_error_naming_the_host_without_password(
    backend: str, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens here
    secret = "s3cr3t-pa55"
    timeout = 1.0
    if backend == "mongodb":
        url = f"mongodb://lume@127.0.0.1:{port}/db"
        kwargs: dict = {"password": SecretStr(secret)}
        where = f"127.0.0.1:{port}"
    elif backend == "postgresql":
        url = f"postgresql+psycopg2://lume:{secret}@127.0.0.1:{port}/db"
        kwargs = {}
        where = f"127.0.0.1:{port}"
    else:
        blocker = tmp_path / "not_a_dir"
        blocker.write_text("a file where the database folder should be")
        url = f"sqlite:///{blocker}/results.db"
        kwargs = {}
        where = str(blocker)
    with pytest.raises(StoreUnavailableError):  # untimed: the driver's imports load here
        open_result_store(url, project="p", timeout_s=0.1, **kwargs)
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        open_result_store(url, project="p", timeout_s=timeout, **kwargs)
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert where in message
    assert secret not in message and secret not in repr(info.value.__cause__)
    assert elapsed < timeout + 5, f"took {elapsed:.1f} s with a {timeout} s timeout"


def test_created_is_queryable_and_sortable(store: ResultStore) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(5):
        store.put(make_result(i).model_copy(update={"created": t0 + timedelta(hours=i)}))
    later = store.find(
        filter={"created": {"$gte": t0 + timedelta(hours=3)}}, sort=[("created", -1)]
    )
    assert [r.inputs["i"] for r in later] == [4, 3]


def test_mongo_password_from_settings_never_appears_in_errors(
    lume_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lume_assets.settings import get_settings

    monkeypatch.setenv("LUME_MONGO_PASSWORD", "from-env-s3cret")
    get_settings.cache_clear()
    port = free_port()
    with pytest.raises(StoreUnavailableError) as info:
        open_result_store(f"mongodb://lume@127.0.0.1:{port}/db", timeout_s=0.5)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "from-env-s3cret" not in str(info.value)
    with pytest.raises(StoreUnavailableError) as info:
        open_result_store(f"mongodb://lume:in-uri-s3cret@127.0.0.1:{port}/db", timeout_s=0.5)
    assert "in-uri-s3cret" not in str(info.value)


def test_long_strings_and_deep_paths_are_stored(store: ResultStore) -> None:
    long_text = "é" * 3000  # 6000 bytes: over PostgreSQL's B-tree entry limit
    deep: dict = {"leaf": 1}
    for _ in range(60):
        deep = {"level_x": deep}
    r = Result(model="m", version="1", outputs={"log": long_text, "deep": deep, "tag": "t"})
    store.put(r)
    got = store.get(r.inputs_hash)
    assert got.outputs["log"] == long_text and got.outputs["deep"] == deep
    assert store.count("m", {"outputs.tag": "t"}) == 1
    with pytest.raises(ConfigError) as bad:
        open_result_store("mongodb://lume:in-uri-s3cret@127.0.0.1:notaport/db")
    assert "in-uri-s3cret" not in str(bad.value)


def test_mongo_can_offload_large_arrays_to_hdf5_files(
    store_url: Callable[[str], str], tmp_path: Path
) -> None:
    url = store_url("mongodb")
    with open_result_store(
        url, project="p", files_root=tmp_path, large_arrays="hdf5", array_threshold=1024
    ) as store:
        big = np.arange(4096, dtype=np.uint32).reshape(64, 64)
        r = Result(model="m", version="1", outputs={"img": big})
        store.put(r)
        assert_same_array(store.get(r.inputs_hash).outputs["img"], big)
        assert len(list(tmp_path.rglob("*.h5"))) == 1
    with pytest.raises(ConfigError, match="files_root"):
        open_result_store(url, project="p", large_arrays="hdf5")
