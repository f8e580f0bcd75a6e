"""Result store benchmarks: bulk insert vs raw pymongo, and indexed lookup by inputs hash.

    PYTHONPATH=. .venv/bin/python bench/results_bench.py [--mongo-uri URI] [--lookup-docs 100000]

Without --mongo-uri an nx-27017 server is started on a free port (and stopped by its PID).
1. Insert 10,000 results through `MongoResultStore.put_many` vs raw pymongo `insert_many` of the
   equivalent documents (already encoded) on the same server, into a collection with only the
   unique inputs_hash index and into one with the store's indexes; ratio = raw time / store
   time (1.0 = as fast as raw pymongo; target >= 0.8).
2. `find_one(inputs_hash)` latency at N stored results (default 100,000) for MongoDB and SQLite:
   median and p99 over 2,000 random lookups, next to raw pymongo `find_one` on the same data.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pymongo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lume_assets.storage.result_stores import ResultStore, open_result_store  # noqa: E402
from lume_assets.storage.results import Provenance, Result  # noqa: E402


def make_results(n: int, offset: int = 0) -> Iterator[Result]:
    """Yield `n` distinct small results (scalars plus a 16-element array)."""
    rng = np.random.default_rng(offset)
    for i in range(offset, offset + n):
        yield Result(
            model="bench",
            version="1.0",
            inputs={"i": i, "x": i * 0.5, "mode": "scan"},
            outputs={"energy": float(rng.standard_normal()), "trace": rng.standard_normal(16)},
            provenance=Provenance(run_id="bench-run", asset_key="bench"),
        )


def timed(fn: Callable[[], object]) -> float:
    """Return the wall time of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_insert(uri: str, n: int, repeats: int) -> dict[str, float]:
    """Time put_many through the store vs raw insert_many of the same encoded documents.

    Two raw baselines: a collection with only the unique inputs_hash index (the least work
    that still dedupes), and one with exactly the store's indexes (same work as the store).
    """
    store_times, raw_min_times, raw_same_times = [], [], []
    client = pymongo.MongoClient(uri)
    results = list(make_results(n))
    for rep in range(repeats + 1):  # the first round warms the server up and is not counted
        db = f"bench_{uuid.uuid4().hex[:8]}"
        store = open_result_store(uri, project="ins", database=db)
        docs = [store.to_document(r) for r in results]  # equivalent documents, pre-encoded
        store_times.append(timed(lambda s=store, r=results: s.put_many(r)))
        assert store.count() == n
        raw = client[db]["raw_min"]
        raw.create_index("inputs_hash", unique=True)
        raw_min_times.append(timed(lambda c=raw, d=docs: c.insert_many(d, ordered=False)))
        same = client[db]["raw_same"]
        for info in store.collection.index_information().values():  # type: ignore[attr-defined]
            keys = [(k, int(d)) for k, d in info["key"]]
            if keys != [("_id", 1)]:
                same.create_index(keys, unique=bool(info.get("unique")))
        docs = [{k: v for k, v in d.items() if k != "_id"} for d in docs]
        raw_same_times.append(timed(lambda c=same, d=docs: c.insert_many(d, ordered=False)))
        store.close()
        client.drop_database(db)
        if rep == 0:
            store_times, raw_min_times, raw_same_times = [], [], []
    client.close()
    s = statistics.median(store_times)
    r_min, r_same = statistics.median(raw_min_times), statistics.median(raw_same_times)
    return {
        "store_s": s,
        "raw_min_s": r_min,
        "raw_same_s": r_same,
        "ratio_min": r_min / s,
        "ratio_same": r_same / s,
    }


def lookup_stats(fn: Callable[[str], object], hashes: list[str], k: int) -> tuple[float, float]:
    """Return (median, p99) latency in ms of `fn(hash)` over k random hashes."""
    picks = random.Random(1).choices(hashes, k=k)
    samples = []
    for h in picks:
        start = time.perf_counter()
        assert fn(h) is not None
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * (len(samples) - 1))]


def range_query_ms(store: ResultStore, n: int, repeats: int = 20) -> float:
    """Median ms of a range filter + sort returning 100 of the n results."""
    rng = random.Random(2)
    samples = []
    for _ in range(repeats):
        lo = rng.randrange(0, n - 100)
        flt = {"inputs.i": {"$gte": lo, "$lt": lo + 100}, "inputs.mode": "scan"}
        start = time.perf_counter()
        hits = store.find("bench", flt, sort=[("outputs.energy", -1)])
        samples.append((time.perf_counter() - start) * 1000)
        assert len(hits) == 100
    return statistics.median(samples)


def fill(store: ResultStore, n: int) -> list[str]:
    """Store n results in batches; return their hashes."""
    hashes = []
    batch = 10_000
    for start in range(0, n, batch):
        chunk = list(make_results(min(batch, n - start), offset=start))
        store.put_many(chunk)
        hashes.extend(r.inputs_hash for r in chunk)
    return hashes


def bench_lookup(uri: str, sqlite_url: str, n: int, k: int) -> dict[str, tuple[float, float]]:
    """find_one latency at n documents for Mongo (store and raw) and SQLite."""
    out: dict[str, tuple[float, float]] = {}
    db = f"bench_{uuid.uuid4().hex[:8]}"
    mongo = open_result_store(uri, project="lookup", database=db)
    start = time.perf_counter()
    hashes = fill(mongo, n)
    print(f"  filled MongoDB with {n} results in {time.perf_counter() - start:.1f} s", flush=True)
    out["mongodb store.find_one"] = lookup_stats(mongo.find_one, hashes, k)
    out["mongodb range filter + sort, 100 hits (unindexed path)"] = (range_query_ms(mongo, n), 0)
    raw = pymongo.MongoClient(uri)[db]["lookup"]
    out["mongodb raw find_one"] = lookup_stats(
        lambda h: raw.find_one({"inputs_hash": h}), hashes, k
    )
    mongo.close()
    pymongo.MongoClient(uri).drop_database(db)
    sql = open_result_store(sqlite_url, project="lookup")
    start = time.perf_counter()
    fill(sql, n)
    print(f"  filled SQLite with {n} results in {time.perf_counter() - start:.1f} s", flush=True)
    out["sqlite store.find_one"] = lookup_stats(sql.find_one, hashes, k)
    out["sqlite range filter + sort, 100 hits (index table)"] = (range_query_ms(sql, n), 0)
    sql.close()
    return out


def main() -> None:
    """Run both benchmarks and print a Markdown summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mongo-uri", default=None)
    parser.add_argument("--insert-docs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lookup-docs", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    args = parser.parse_args()
    server = None
    uri = args.mongo_uri
    if uri is None:
        from tests.servers import MongoServer

        server = MongoServer.start()
        uri = server.uri
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"insert {args.insert_docs} results (median of {args.repeats}):", flush=True)
            ins = bench_insert(uri, args.insert_docs, args.repeats)
            print(
                f"| store.put_many | {ins['store_s']:.2f} s | |\n"
                f"| raw insert_many, unique inputs_hash index only | {ins['raw_min_s']:.2f} s "
                f"| ratio raw/store {ins['ratio_min']:.2f} |\n"
                f"| raw insert_many, the store's indexes | {ins['raw_same_s']:.2f} s "
                f"| ratio raw/store {ins['ratio_same']:.2f} |",
                flush=True,
            )
            print(f"lookup by hash at {args.lookup_docs} results ({args.lookups} lookups):")
            res = bench_lookup(
                uri, f"sqlite:///{Path(tmp) / 'bench.db'}", args.lookup_docs, args.lookups
            )
            for name, (med, p99) in res.items():
                tail = f"p99 {p99:.3f} ms" if p99 else ""
                print(f"| {name} | median {med:.3f} ms | {tail} |")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
