"""The Result record and its canonical inputs hash; the Mongo retry helper."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from lume_assets.errors import SerializerError
from lume_assets.storage.mongo_store import retry_on_autoreconnect
from lume_assets.storage.results import Result, compute_inputs_hash, compute_inputs_hashes


def test_hash_is_the_sha256_of_the_documented_canonical_json() -> None:
    inputs = {"b": [1.0, np.int8(2)], "a": {"y": np.float32(0.5), "x": None}, "f": True}
    canonical = '{"inputs":{"a":{"x":null,"y":0.5},"b":[1,2],"f":true},"model":"m","version":"1"}'
    assert compute_inputs_hash("m", "1", inputs) == hashlib.sha256(canonical.encode()).hexdigest()


def test_flat_scalar_inputs_hash_as_the_documented_canonical_json() -> None:
    # flat dicts of plain scalars (scan points) take a fast path: it must spell every value as
    # the canonical form does (integral floats as integers, -0.0 as 0, NaN/inf as strings)
    cases = [
        (
            {"k": 0.1, "n": 3, "s": "a", "b": True, "z": None},
            '{"b":true,"k":0.1,"n":3,"s":"a","z":null}',
        ),
        ({"x": -0.0, "y": 2.0**53, "w": 1e300}, f'{{"w":{int(1e300)},"x":0,"y":9007199254740992}}'),
        (
            {"x": 5e-324, "y": float("nan"), "z": -float("inf")},
            '{"x":5e-324,"y":"NaN","z":"-Infinity"}',
        ),
        ({"t": "é"}, '{"t":"é"}'),
    ]
    for inputs, canonical in cases:
        text = f'{{"inputs":{canonical},"model":"m","version":"1"}}'
        expected = hashlib.sha256(text.encode()).hexdigest()
        assert compute_inputs_hash("m", "1", inputs) == expected, inputs


def test_a_batch_of_points_hashes_as_each_point_alone() -> None:
    # compute_inputs_hashes formats flat float/int points directly; every other point (odd
    # values, other keys) takes the per-point path: the digests must not differ
    odd = [-0.0, 2.0**53, 2**53, 1e300, 5e-324, float("nan"), float("inf"), True, None, "é"]
    odd += [10**40, np.float64(2.5), np.int64(3), [1.0]]
    rng = np.random.default_rng(7)
    points = []
    for i in range(3000):
        point = {"k": float(rng.uniform(-1e6, 1e6)), "drift": float(rng.integers(-9, 9)), "e": 1}
        if i % 7 == 0:
            point[["k", "drift", "e"][i % 3]] = odd[i % len(odd)]
        if i % 101 == 0:
            point["extra"] = 1.0
        if i % 103 == 0:
            del point["k"]
        points.append(point)
    expected = [compute_inputs_hash("focus", "1.0", p) for p in points]
    assert compute_inputs_hashes("focus", "1.0", points) == expected
    assert compute_inputs_hashes("focus", "1.0", points[::-1]) == expected[::-1]
    assert compute_inputs_hashes("focus", "1.0", []) == []


def test_hash_is_stable_across_key_order_number_spelling_and_numpy_types() -> None:
    base = compute_inputs_hash("sim", "1.0", {"x": 1, "y": 2.5, "v": [1, 2, 3], "s": "a"})
    same = [
        {"s": "a", "v": [1, 2, 3], "y": 2.5, "x": 1},
        {"x": 1.0, "y": np.float64(2.5), "v": np.array([1, 2, 3]), "s": np.str_("a")},
        {"x": np.int64(1), "y": np.float32(2.5), "v": (1.0, 2.0, 3.0), "s": "a"},
        {"x": np.uint8(1), "y": 2.5, "v": np.array([1.0, 2.0, 3.0], dtype=np.float16), "s": "a"},
    ]
    for inputs in same:
        assert compute_inputs_hash("sim", "1.0", inputs) == base, inputs


def test_hash_distinguishes_what_differs() -> None:
    base = compute_inputs_hash("sim", "1.0", {"x": 1})
    assert compute_inputs_hash("sim", "1.1", {"x": 1}) != base
    assert compute_inputs_hash("other", "1.0", {"x": 1}) != base
    assert compute_inputs_hash("sim", "1.0", {"x": True}) != base
    assert compute_inputs_hash("sim", "1.0", {"x": "1"}) != base
    assert compute_inputs_hash("sim", "1.0", {"x": 1.0000001}) != base
    assert compute_inputs_hash("sim", "1.0", {"x": [1]}) != base
    nan = compute_inputs_hash("sim", "1.0", {"x": float("nan")})
    assert nan == compute_inputs_hash("sim", "1.0", {"x": np.float32("nan")}) != base


def test_unhashable_inputs_are_refused_naming_the_path() -> None:
    with pytest.raises(SerializerError, match=r"inputs\.cfg\.when"):
        compute_inputs_hash("m", "1", {"cfg": {"when": datetime.now()}})
    with pytest.raises(SerializerError, match="not a string"):
        compute_inputs_hash("m", "1", {"cfg": {1: 2}})


def test_result_fills_checks_hash_and_keeps_created_at_millisecond_utc() -> None:
    r = Result(model="m", version="1", inputs={"x": 1})
    assert r.inputs_hash == compute_inputs_hash("m", "1", {"x": 1.0})
    assert r.created.tzinfo is not None and r.created.microsecond % 1000 == 0
    naive = Result(model="m", version="1", created=datetime(2024, 1, 2, 3, 4, 5, 678901))
    assert naive.created == datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert r.published is True
    with pytest.raises(ValidationError, match="does not match"):
        Result(model="m", version="1", inputs={"x": 1}, inputs_hash="ab" * 32)


def test_retry_on_autoreconnect_backs_off_then_succeeds_and_never_retries_a_down_server() -> None:
    # A dropped connection cannot be provoked on demand against a live server, so a callable
    # raising pymongo's real AutoReconnect stands in for the failing socket.
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise AutoReconnect("connection reset")
        return "ok"

    assert retry_on_autoreconnect(flaky, base=0.001) == "ok" and len(calls) == 3

    def always() -> None:
        calls.append(1)
        raise AutoReconnect("still down")

    calls.clear()
    with pytest.raises(AutoReconnect):
        retry_on_autoreconnect(always, retries=2, base=0.001)
    assert len(calls) == 3

    def down() -> None:
        calls.append(1)
        raise ServerSelectionTimeoutError("no server")

    calls.clear()
    with pytest.raises(ServerSelectionTimeoutError):
        retry_on_autoreconnect(down, base=0.001)
    assert len(calls) == 1
