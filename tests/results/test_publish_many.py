"""publish_many: an approval publishes (or holds back) many results at once, on every store."""

from lume_assets.storage.results import Result


def test_publish_many_flips_exactly_the_named_results(store):
    held = [
        Result(model="m", version="1", inputs={"x": i}, outputs={"y": i}, published=False)
        for i in range(1200)
    ]
    store.put_many(held)
    other = Result(model="m", version="1", inputs={"x": -1}, outputs={"y": 0}, published=False)
    store.put(other)
    assert store.count("m") == 0
    hashes = [r.inputs_hash for r in held]
    assert store.publish_many(hashes + hashes[:3]) == 1200  # duplicates counted once
    assert store.count("m") == 1200
    assert store.find_one(other.inputs_hash) is None
    assert store.publish_many(hashes[:10], published=False) == 10
    assert store.count("m") == 1190
    assert store.publish_many(["0" * 64]) == 0
