"""Every store method taking an inputs hash refuses anything but a 64-hex string (issue 15 #4).

On MongoDB a dict such as ``{"$ne": ""}`` would otherwise reach the server as a query operator
and match (or publish) an arbitrary held result.
"""

from __future__ import annotations

from typing import Any

import pytest

from lume_assets.errors import QueryError
from lume_assets.storage.result_stores import ResultStore
from lume_assets.storage.results import Result

HOSTILE: list[Any] = [{"$ne": ""}, {"$ne": "x"}, {"$gt": ""}, ["a"], 7, None, "abc", "A" * 64]


def _held(store: ResultStore) -> Result:
    """Store one result held back (unpublished) and return it."""
    result = Result(model="m", version="1", inputs={"x": 1.0}, outputs={"y": 2.0}, published=False)
    store.put(result)
    return result


@pytest.mark.parametrize("bad", HOSTILE, ids=repr)
def test_single_hash_methods_refuse_non_hashes(store: ResultStore, bad: Any) -> None:
    held = _held(store)
    for call in (
        lambda: store.find_one(bad, include_unpublished=True),
        lambda: store.publish(bad),
        lambda: store.document_id(bad),
        lambda: store.get(bad),
    ):
        with pytest.raises(QueryError, match="inputs_hash: expected a 64-character"):
            call()
    # nothing was published by the attempts
    assert store.find_one(held.inputs_hash) is None
    assert store.find_one(held.inputs_hash, include_unpublished=True) is not None


def test_publish_many_refuses_operator_documents(store: ResultStore) -> None:
    held = _held(store)
    for bad in ([{"$ne": "x"}], {"$ne": "x"}, "0" * 64, [held.inputs_hash, {"$gt": ""}]):
        with pytest.raises(QueryError):
            store.publish_many(bad)  # type: ignore[arg-type]
    assert store.find_one(held.inputs_hash) is None
    assert store.publish_many([held.inputs_hash]) == 1
    assert store.find_one(held.inputs_hash) is not None


def test_error_names_the_type_not_the_value(store: ResultStore) -> None:
    with pytest.raises(QueryError) as info:
        store.find_one({"$where": "sleep(100) || 'secret-token'"})  # type: ignore[arg-type]
    assert "secret-token" not in str(info.value) and "a dict" in str(info.value)
