"""Indexes: what each store indexes, user-added indexes, and range bounds that use them."""

from __future__ import annotations

import re
import sqlite3

import numpy as np
import pytest
import sqlalchemy as sa

from lume_assets.errors import QueryError
from lume_assets.storage.result_stores import ResultStore
from lume_assets.storage.results import Result


def result(i: int, x: float, tags: list[int]) -> Result:
    """A small result with a scalar and a list input."""
    return Result(
        model="sim",
        version="1",
        inputs={"i": i, "x": x, "tags": tags},
        outputs={"energy": np.float64(x * 2), "label": f"r{i}"},  # as batch functions give
    )


def test_input_paths_are_indexed_and_users_can_add_more(store: ResultStore) -> None:
    store.put_many(result(i, float(i), [i]) for i in range(5))
    paths = store.indexed_paths()
    assert {"inputs.i", "inputs.x"} <= set(paths)
    store.ensure_index("outputs.energy")
    assert "outputs.energy" in store.indexed_paths()
    assert [
        r.inputs["i"] for r in store.find(filter={"outputs.energy": {"$gte": 4}}, sort="inputs.i")
    ] == [2, 3, 4]
    assert store.ensure_index("outputs.energy")  # idempotent
    with pytest.raises(QueryError, match="not queryable"):
        store.ensure_index("energy")


def test_both_bounds_on_a_list_match_any_elements_as_in_mongodb(store: ResultStore) -> None:
    store.put_many([result(0, 0.0, [0, 5]), result(1, 2.0, [2]), result(2, 5.0, [9])])
    # a list matches when some element is > 1 and some (maybe other) element is < 3
    hits = store.find(filter={"inputs.tags": {"$gt": 1, "$lt": 3}}, sort="inputs.i")
    assert [r.inputs["i"] for r in hits] == [0, 1]
    # a scalar path: both bounds on the one value
    hits = store.find(filter={"inputs.x": {"$gt": 1, "$lt": 3}}, sort="inputs.i")
    assert [r.inputs["i"] for r in hits] == [1]
    assert store.count(filter={"inputs.x": {"$gte": 0, "$lt": 5}}) == 2


def test_sqlite_drives_a_range_from_the_typed_index_with_both_bounds(
    open_store: object, backend: str, backend_url: str
) -> None:
    if backend != "sqlite":
        pytest.skip("a SQLite query plan")
    store = open_store()  # type: ignore[operator]
    store.put_many(result(i, float(i), [i]) for i in range(2000))
    # a nested value is not a shape column: the general typed index holds it
    store.put_many(
        Result(model="sim", version="2", inputs={"i": i, "p": {"v": float(i)}}, outputs={})
        for i in range(2000)
    )

    def plan(path: str) -> tuple[str, str]:
        with store._read() as conn:
            q, _ = store._select(
                conn, [sa.func.count()], "sim", {path: {"$gte": 10, "$lt": 20}}, False
            )
            sql = str(q.compile(compile_kwargs={"literal_binds": True}))
        raw = sqlite3.connect(backend_url.removeprefix("sqlite:///"))
        steps = " ".join(row[-1] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}"))
        raw.close()
        return sql, steps

    sql, steps = plan("inputs.x")  # a scalar of the result's shape: its column's index
    assert sql.count("IN (SELECT") == 1  # one condition for both bounds
    assert re.search(r"ix_lume_shape_\d+_c\d+ \(c\d+>\? AND c\d+<\?\)", steps), steps
    sql, steps = plan("inputs.p.v")
    assert sql.count("IN (SELECT") == 1
    assert "ix_lume_result_fields_num (path_id=? AND kind=? AND num>? AND num<?)" in steps
    assert store.count("sim", {"inputs.x": {"$gte": 10, "$lt": 20}}) == 10
    assert store.count("sim", {"inputs.p.v": {"$gte": 10, "$lt": 20}}) == 10
    assert store.count("sim", {"inputs.i": {"$gte": 10, "$lt": 20}}) == 20  # both shapes
