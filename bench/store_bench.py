"""SQL result store vs a plain indexed table, at scale (issue 14, item 1).

    PYTHONPATH=. .venv/bin/python bench/store_bench.py --points 1000000 [--postgres]

Both sides hold the same focus-model results (inputs k, drift, emittance; outputs
focal_length, sigma; provenance shared by the 1,000 points of a chunk) in the same run:

- lume: `SqlResultStore` (`put_many` in chunks of 10,000, as a scan writes them);
- plain: one table with a column per value, a unique index on the hash and one index on
  each of the five values ("equal indexes"), filled with `executemany`, then ANALYZEd.

Measured (median of repeated calls, after one warm-up):

- `find_one` by inputs hash (lume returns a `Result`, plain a row tuple);
- range + sort + limit 100: ``inputs.k`` in a window holding 5 % of the points, published, of
  model focus, sorted by ``outputs.sigma`` descending (plain: the same WHERE/ORDER BY/LIMIT);
- count of the same range;
- `put_many` of 10,000 results into a fresh database vs plain `executemany` of the same rows
  (values extracted before timing) with equal indexes, committed (median of up to 5 rounds,
  the two sides alternating, each round into fresh files);
- bytes on disk per result (database file after a WAL checkpoint).

With ``--postgres`` the same figures are taken on a PostgreSQL server started on a free port
(stopped by its PID); the plain side there uses psycopg2 ``execute_values``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lume_assets.storage.result_stores import open_result_store  # noqa: E402
from lume_assets.storage.results import Provenance, Result  # noqa: E402

CHUNK = 1000
WINDOW = 0.05  # share of points in the range window
K_RANGE = (0.1, 10.0)


def make_results(n: int, offset: int = 0, seed: int = 0) -> Iterator[Result]:
    """Yield focus-model results with chunk-shared provenance."""
    rng = np.random.default_rng(seed + offset)
    k = rng.uniform(*K_RANGE, n)
    drift = rng.uniform(0.1, 10.0, n)
    run_id = str(uuid.UUID(int=seed + 1))
    for j in range(n):
        i = offset + j
        f = 1.0 / k[j]
        sigma = float(np.sqrt((f * f / drift[j] + drift[j]) * 1e-6))
        yield Result(
            model="focus",
            version="1.0",
            inputs={"k": float(k[j]), "drift": float(drift[j]), "emittance": 1e-6, "i": i},
            outputs={"focal_length": f, "sigma": sigma},
            provenance=Provenance(
                run_id=run_id,
                asset_key="focus_scan",
                partition_key=str(i // CHUNK),
                code_sha="0" * 40,
            ),
        )


def plain_row(r: Result) -> tuple:
    """The plain table's row of a result."""
    doc = json.dumps({"inputs": r.inputs, "outputs": r.outputs}, separators=(",", ":"))
    return (
        r.inputs_hash,
        r.model,
        r.version,
        int(r.created.timestamp() * 1000),
        1,
        r.inputs["k"],
        r.inputs["drift"],
        r.inputs["emittance"],
        r.inputs["i"],
        float(r.outputs["focal_length"]),
        float(r.outputs["sigma"]),
        doc,
    )


PLAIN_COLUMNS = (
    "inputs_hash, model, version, created_ms, published, k, drift, emittance, i, "
    "focal_length, sigma, document"
)
PLAIN_INDEXES = ("k", "drift", "emittance", "i", "focal_length", "sigma")


def plain_schema(real: str = "REAL", serial: str = "INTEGER PRIMARY KEY") -> list[str]:
    """CREATE statements of the plain table and its equal indexes."""
    stmts = [
        f"CREATE TABLE plain (id {serial}, inputs_hash TEXT NOT NULL UNIQUE, model TEXT, "
        f"version TEXT, created_ms BIGINT, published INTEGER, k {real}, drift {real}, "
        f"emittance {real}, i BIGINT, focal_length {real}, sigma {real}, document TEXT)"
    ]
    stmts += [f"CREATE INDEX plain_{c} ON plain ({c})" for c in PLAIN_INDEXES]
    return stmts


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of `fn` in ms after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def windows(n: int, seed: int = 3) -> Iterator[tuple[float, float]]:
    """Yield random k windows each holding ~5 % of the points."""
    rng = random.Random(seed)
    width = (K_RANGE[1] - K_RANGE[0]) * WINDOW
    while True:
        lo = rng.uniform(K_RANGE[0], K_RANGE[1] - width)
        yield lo, lo + width


class Plain:
    """The plain table on SQLite (sqlite3) or PostgreSQL (psycopg2)."""

    def __init__(self, kind: str, target: str) -> None:
        """Connect and create the table with its indexes."""
        self.kind = kind
        if kind == "sqlite":
            self.conn = sqlite3.connect(target, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.p = "?"
            for s in plain_schema():
                self.conn.execute(s)
        else:
            import psycopg2

            self.conn = psycopg2.connect(target)
            self.p = "%s"
            with self.conn, self.conn.cursor() as cur:
                for s in plain_schema("DOUBLE PRECISION", "BIGSERIAL PRIMARY KEY"):
                    cur.execute(s)

    def insert(self, rows: list[tuple]) -> None:
        """Insert rows in one transaction."""
        if self.kind == "sqlite":
            self.conn.execute("BEGIN")
            self.conn.executemany(
                f"INSERT INTO plain ({PLAIN_COLUMNS}) VALUES ({','.join('?' * 12)})", rows
            )
            self.conn.execute("COMMIT")
        else:
            from psycopg2.extras import execute_values

            with self.conn, self.conn.cursor() as cur:
                execute_values(
                    cur, f"INSERT INTO plain ({PLAIN_COLUMNS}) VALUES %s", rows, page_size=5000
                )

    def run(self, sql: str, args: tuple) -> list:
        """Execute a query and return all rows."""
        if self.kind == "sqlite":
            return self.conn.execute(sql, args).fetchall()
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            rows = cur.fetchall()
        self.conn.rollback()
        return rows

    def analyze(self) -> None:
        """Refresh planner statistics."""
        if self.kind == "sqlite":
            self.conn.execute("ANALYZE")
        else:
            self.conn.autocommit = True
            with self.conn.cursor() as cur:
                cur.execute("ANALYZE plain")
            self.conn.autocommit = False


def bench_backend(kind: str, n: int, repeats: int, tmp: Path, pg: object = None) -> dict:
    """All figures for one backend; returns name -> (lume, plain)."""
    if kind == "sqlite":
        lume_url = f"sqlite:///{tmp / 'lume.db'}"
        plain_target = str(tmp / "plain.db")
        plain_put_target = str(tmp / "plain_put.db")
        lume_put_url = f"sqlite:///{tmp / 'lume_put.db'}"
    else:
        lume_url = pg.database_url("lume")  # type: ignore[attr-defined]
        lume_put_url = pg.database_url("lume_put")  # type: ignore[attr-defined]
        base = f"host=127.0.0.1 port={pg.port} user=postgres dbname="  # type: ignore[attr-defined]
        pg.database_url("plain")  # type: ignore[attr-defined]
        pg.database_url("plain_put")  # type: ignore[attr-defined]
        plain_target, plain_put_target = base + "plain", base + "plain_put"
    out: dict[str, tuple[float, float]] = {}

    # put_many of 10,000 into fresh databases: min(repeats, 5) rounds, each side alternately
    batch = list(make_results(10_000, 0, seed=7))
    rows = [plain_row(r) for r in batch]
    lume_times, plain_times = [], []
    for round_ in range(min(repeats, 5)):
        suffix = f"_{round_}" if kind == "sqlite" else ""
        if round_ and kind != "sqlite":
            break  # one round on PostgreSQL (fresh databases per round only on SQLite)
        store = open_result_store(lume_put_url.replace(".db", f"{suffix}.db"), project="bench")
        plain = Plain(kind, plain_put_target.replace(".db", f"{suffix}.db"))
        start = time.perf_counter()
        store.put_many(batch)
        lume_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        plain.insert(rows)
        plain_times.append(time.perf_counter() - start)
        store.close()
    out["put_many 10,000 (s, median of rounds)"] = (
        statistics.median(lume_times),
        statistics.median(plain_times),
    )

    # fill both to n from the same generated chunks; each side's write time is summed
    store = open_result_store(lume_url, project="bench")
    plain = Plain(kind, plain_target)
    lume_s = plain_s = 0.0
    for off in range(0, n, 10_000):
        chunk = list(make_results(min(10_000, n - off), off))
        rows = [plain_row(r) for r in chunk]
        start = time.perf_counter()
        store.put_many(chunk)
        lume_s += time.perf_counter() - start
        start = time.perf_counter()
        plain.insert(rows)
        plain_s += time.perf_counter() - start
    start = time.perf_counter()
    plain.analyze()
    plain_s += time.perf_counter() - start
    print(f"  {kind}: wrote {n} results: lume {lume_s:.1f} s, plain {plain_s:.1f} s", flush=True)
    out["writing all n in chunks of 10,000 (s)"] = (lume_s, plain_s)

    mid = n // 2 // 10_000 * 10_000  # a chunk written by fill() (same size, same draws)
    hashes = [r.inputs_hash for r in make_results(min(10_000, n - mid), mid)][:2000]
    picks = iter(random.Random(1).choices(hashes, k=30 * repeats + 10))
    p = plain.p

    def lume_find_one() -> None:
        assert store.find_one(next(picks)) is not None

    def plain_find_one() -> None:
        assert plain.run(f"SELECT * FROM plain WHERE inputs_hash = {p}", (next(picks),))

    out["find_one (ms)"] = (
        median_ms(lume_find_one, 10 * repeats),
        median_ms(plain_find_one, 10 * repeats),
    )
    win = windows(n)

    def lume_range() -> None:
        lo, hi = next(win)
        hits = store.find(
            "focus",
            {"inputs.k": {"$gte": lo, "$lt": hi}},
            sort=[("outputs.sigma", -1)],
            limit=100,
        )
        assert len(hits) == 100

    def plain_range() -> None:
        lo, hi = next(win)
        rows = plain.run(
            f"SELECT * FROM plain WHERE published = 1 AND model = {p} AND k >= {p} AND k < {p} "
            "ORDER BY sigma DESC, inputs_hash LIMIT 100",
            ("focus", lo, hi),
        )
        assert len(rows) == 100

    out["range + sort + limit 100 (ms)"] = (
        median_ms(lume_range, repeats),
        median_ms(plain_range, repeats),
    )

    def lume_count() -> None:
        lo, hi = next(win)
        assert store.count("focus", {"inputs.k": {"$gte": lo, "$lt": hi}}) > 0

    def plain_count() -> None:
        lo, hi = next(win)
        sql = (
            f"SELECT count(*) FROM plain WHERE published = 1 AND model = {p} AND k >= {p} "
            f"AND k < {p}"
        )
        assert plain.run(sql, ("focus", lo, hi))[0][0] > 0

    out["count of a range (ms)"] = (median_ms(lume_count, repeats), median_ms(plain_count, repeats))
    if kind == "sqlite":
        store.close()
        for path in (tmp / "lume.db", tmp / "plain.db"):
            c = sqlite3.connect(path)
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            c.close()
        out["bytes per result"] = (
            (tmp / "lume.db").stat().st_size / n,
            (tmp / "plain.db").stat().st_size / n,
        )
    else:
        sizes = []
        for db in ("lume", "plain"):
            r = plain.run("SELECT pg_database_size(%s)", (db,))
            sizes.append(r[0][0] / n)
        out["bytes per result"] = (sizes[0], sizes[1])
        store.close()
    return out


def main() -> None:
    """Run the benchmark and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--only-postgres", action="store_true")
    args = parser.parse_args()
    kinds = [] if args.only_postgres else ["sqlite"]
    if args.postgres or args.only_postgres:
        kinds.append("postgresql")
    for kind in kinds:
        with tempfile.TemporaryDirectory(dir=".") as tmp:
            pg = None
            if kind == "postgresql":
                from tests.servers import PostgresServer

                pg = PostgresServer.start()
            try:
                res = bench_backend(kind, args.points, args.repeats, Path(tmp), pg)
            finally:
                if pg is not None:
                    pg.stop()
        print(f"\n{kind}, {args.points:,} results\n")
        print("| measurement | lume | plain | ratio lume/plain |\n|---|---|---|---|")
        for name, (lume, plain) in res.items():
            print(f"| {name} | {lume:.4g} | {plain:.4g} | {lume / plain:.2f} |", flush=True)


if __name__ == "__main__":
    main()
