"""Scans at scale (issue 14): the focus-model curve and a slow model on every core.

Curve: for each point count, ONE fresh process materializes a focus-model scan (`scan_asset`,
one single-run backfill) into a fresh SQLite result store and a fresh on-disk Dagster instance
(SQLite), and reports the scan's wall time and CPU time (user + system of the process and its
reaped children; `forkserver` pool workers are not its children, so with `--runner processes`
their CPU is not counted), the store's bytes per result, the Dagster home's growth during the
run, the process's peak RSS (ru_maxrss) and the 1-minute load average as the run ends.

Chunks: `--chunk N` points, or by default the product's `auto_chunk_size` (1,000 points up to
16,000 points, then 16 chunks of at most 10,000: 6,250 at 100k, 10,000 at 1M) — what a user
gets without setting `chunk_size`. Measured (100k focus points, same load, CPU seconds): chunks
of 1,000 13.0 s, 10,000 8.2 s, 20,000 8.3 s — per-chunk costs (file + fsync, a store
transaction, a cache query, Dagster's progress and materialization events) dominate below a
few thousand points; see lume_assets/assets/scan_grid.py.

Slow model: a 400-point scan of a model burning 50 ms of CPU per point (chunks of 20), three
ways in one process (after a warm-up run): the scan with `ChunkRunner(kind="processes",
workers=2)` (forkserver, the default, and fork), the same scan in-process, and the same
function through a plain `ProcessPoolExecutor(2)` (no store, no files).

    PYTHONPATH=. .venv/bin/python bench/scale_bench.py --curve 1000,10000,100000
    PYTHONPATH=. .venv/bin/python bench/scale_bench.py --points 1000000
    PYTHONPATH=. .venv/bin/python bench/scale_bench.py --slow
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from lume_assets.assets.scan_grid import LinSpace, ScanSpec
from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import ScalarVariable

# Dagster is imported inside the functions: worker processes re-import this script (as
# multiprocessing's __mp_main__) to find `slow`, and a model's module should stay light.

SLOW_CPU_S = 0.05


def slow(x: float) -> dict[str, float]:
    """A model costing SLOW_CPU_S of CPU per point; its output depends on `x` only."""
    start, acc = time.process_time(), 0.0
    while time.process_time() - start < SLOW_CPU_S:
        for _ in range(2000):
            acc = math.sin(acc + 1.0)
    return {"y": x * x + 1.0}


SLOW = ModelSpec(
    name="slow",
    version="1",
    inputs=[ScalarVariable(name="x", value_range=(-1e6, 1e6))],
    outputs=[ScalarVariable(name="y")],
    function=slow,
)


def du(path: Path) -> int:
    """Bytes of all files under `path`."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (worker pools)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def materialize(spec: ModelSpec, scan: ScanSpec, root: Path, runner: Any) -> dict:
    """Run `scan` as one single-run backfill under `root`; return wall time and sizes."""
    import dagster as dg
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from lume_assets.assets.scan_asset import scan_asset
    from lume_assets.io_managers.hdf5 import HDF5IOManager
    from lume_assets.io_managers.results import ResultStoreResource

    files = root / "files"
    resources = {
        "result_store": ResultStoreResource(
            url=f"sqlite:///{root / 'results.db'}", files_root=str(files)
        ),
        "hdf5_io_manager": HDF5IOManager(root_dir=str(files)),
        "chunk_runner": runner,
    }
    keys = scan.chunk_keys()
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    home = root / "dagster"
    home.mkdir(parents=True)
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        before = du(home)
        t0, c0 = time.perf_counter(), cpu_seconds()
        ok = dg.materialize(
            [scan_asset(spec, scan)], instance=instance, resources=resources, tags=tags
        ).success
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        assert ok
    store = resources["result_store"].get_store()
    assert store.count(spec.name) == scan.size, store.count(spec.name)
    db = sum(p.stat().st_size for p in root.glob("results.db*"))
    return {
        "points": scan.size,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "store_bytes_per_result": round(db / scan.size),
        "files_bytes_per_result": round(du(files) / scan.size, 1),
        "dagster_home_growth_mb": round((du(home) - before) / 1e6, 2),
    }


def one(points: int, chunk: int | None, runner: str, writer: str = "auto") -> None:
    """Child process: one focus scan of `points`; print its figures as JSON."""
    from lume_assets.demo.focus_model import FOCUS
    from lume_assets.deploy.chunk_runners import ChunkRunner

    side = int(math.isqrt(points))
    assert side * side == points or points % 1000 == 0
    ks = points // 1000 if side * side != points else side
    drifts = points // ks
    scan = ScanSpec(
        name="grid",
        axes={
            "k": LinSpace(start=0.5, stop=5, num=ks),
            "drift": LinSpace(start=0.5, stop=5, num=drifts),
        },
        chunk_size=chunk,
    )
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        out = materialize(FOCUS, scan, Path(tmp), ChunkRunner(kind=runner, writer=writer))
    out["chunk"] = scan.chunk_size
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


def curve(counts: list[int], chunk: int | None, runner: str, writer: str = "auto") -> None:
    """Each count in a fresh process; print a table."""
    size = f"chunks of {chunk}" if chunk else "default (auto) chunk size"
    print(f"focus scan, {size}, runner {runner}, writer {writer}, SQLite store and instance")
    print(
        "| points | chunk | scan wall (s) | scan CPU (s) | points/s | store B/result "
        "| files B/result | Dagster home growth (MB) | peak RSS (MB) | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in counts:
        done = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--runner", runner, "--writer", writer]
            + (["--chunk", str(chunk)] if chunk else []),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(done.stderr[-3000:])
            raise SystemExit(f"{n} points failed")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        load = f"{os.getloadavg()[0]:.1f}"  # 1-minute load average as the run ends
        print(
            f"| {n:,} | {r['chunk']:,} | {r['wall_s']} | {r['cpu_s']} | {n / r['wall_s']:,.0f} "
            f"| {r['store_bytes_per_result']} | {r['files_bytes_per_result']} "
            f"| {r['dagster_home_growth_mb']} | {r['peak_rss_mb']} | {load} |",
            flush=True,
        )


def slow_bench(points: int = 400, chunk: int = 20, workers: int = 2) -> None:
    """The slow model three ways; print times and ratios."""
    from lume_assets.deploy.chunk_runners import ChunkRunner

    scan = ScanSpec(
        name="slow_grid", axes={"x": LinSpace(start=0, stop=1, num=points)}, chunk_size=chunk
    )
    columns = scan.columns()
    xs = [float(p["x"]) for key in scan.chunk_keys() for p in scan.chunk_points(key, columns)]
    rows: dict[str, float] = {}
    warm = ScanSpec(name="warm", axes={"x": [0.0, 1.0]}, chunk_size=1)
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        materialize(SLOW, warm, Path(tmp) / "w", ChunkRunner())  # Dagster's first-run costs
        for method in ("forkserver", "fork"):
            runner = ChunkRunner(kind="processes", workers=workers, start_method=method)
            rows[f"scan, processes runner ({workers} workers, {method})"] = materialize(
                SLOW, scan, Path(tmp) / method, runner
            )["wall_s"]
        rows["scan, in_process runner"] = materialize(SLOW, scan, Path(tmp) / "i", ChunkRunner())[
            "wall_s"
        ]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        outs = list(pool.map(slow, xs, chunksize=chunk))
    rows["plain ProcessPoolExecutor(2).map (no store, no files)"] = round(
        time.perf_counter() - t0, 2
    )
    assert len(outs) == points
    base = rows["scan, in_process runner"]
    plain = rows["plain ProcessPoolExecutor(2).map (no store, no files)"]
    print(f"{points}-point scan, {SLOW_CPU_S * 1000:.0f} ms CPU a point, chunks of {chunk}")
    print("| variant | wall (s) | speed-up vs in_process | ratio to plain pool |")
    print("|---|---|---|---|")
    for name, wall in rows.items():
        print(f"| {name} | {wall} | {base / wall:.2f} | {wall / plain:.2f} |")


def main(argv: list[str] | None = None) -> None:
    """Command line (module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, help="one curve point (in a fresh process)")
    ap.add_argument("--curve", help="comma-separated point counts, e.g. 1000,10000,100000")
    ap.add_argument("--chunk", type=int, default=None, help="points a chunk (default: auto)")
    ap.add_argument("--runner", default="in_process", choices=["in_process", "processes"])
    ap.add_argument("--writer", default="auto", choices=["auto", "step", "process"])
    ap.add_argument("--slow", action="store_true", help="the 400-point 50 ms-model comparison")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        one(args.one, args.chunk, args.runner, args.writer)
        return
    counts = [int(c) for c in args.curve.split(",")] if args.curve else []
    if args.points:
        counts.append(args.points)
    if counts:
        curve(counts, args.chunk, args.runner, args.writer)
    if args.slow:
        slow_bench()
    if not counts and not args.slow:
        ap.error("give --points, --curve or --slow")


if __name__ == "__main__":
    main()
