"""A 10k-point focus scan: `lume-assets scan` in a fresh process vs chunked Prefect 3 tasks.

Issue 14 asks for the ratio against the same scan written as Prefect 3 tasks, one task per chunk,
run against a running Prefect server. Prefect is never a project dependency: this script makes a
throwaway venv (``--venv``, default /tmp/lume-prefect-bench/venv; reused when it already has
Prefect 3) with ``pip install "prefect>=3,<4" numpy``, starts ``prefect server start`` on a free
loopback port with a private PREFECT_HOME, and stops it by its PID at the end.

Each round, alternating, in a fresh process each (interpreter start and imports included):

- lume_assets: ``lume-assets scan focus/grid`` on a code location holding one `scan_asset` of the
  focus model (``--points`` on a square grid, chunks of ``--chunk``), a fresh LUME_HOME each
  round (an empty SQL result store: every point is evaluated; one HDF5 file per chunk, validated
  inputs, provenance, cache lookups, Dagster events) and one DAGSTER_HOME (SQLite instance) made
  by the warm-up round, as the Prefect server's database is made when the server starts.
- Prefect: a flow submitting one task per chunk (the default thread-pool task runner) that
  evaluates the same vectorized focus formulas with numpy and writes the chunk's rows (sha256
  inputs hash, inputs, outputs) into an indexed SQLite table with one ``executemany`` — less work
  than the lume_assets side (no files, no validation, no cache lookup), reported to the server.

Prints the wall time of each run, the medians and the ratio lume_assets / Prefect (target <= 1.0),
with the load average before and after.

    PYTHONPATH=. .venv/bin/python bench/prefect_bench.py [--points 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

DEFS = """\
import dagster as dg

import lume_assets as la
from lume_assets.assets.scan_asset import scan_asset
from lume_assets.assets.scan_grid import LinSpace, ScanSpec
from lume_assets.demo.focus_model import FOCUS

SCAN = ScanSpec(
    name="grid",
    axes={{
        "k": LinSpace(start=0.5, stop=5, num={side}),
        "drift": LinSpace(start=0.5, stop=5, num={side}),
    }},
    chunk_size={chunk},
)
defs = dg.Definitions(assets=[scan_asset(FOCUS, SCAN)], resources=la.resources())
"""

FLOW = '''\
import hashlib
import json
import sqlite3
import sys

import numpy as np
from prefect import flow, task

SIDE, CHUNK, DB = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


@task
def scan_chunk(points: list[dict]) -> int:
    """Evaluate one chunk of focus points (vectorized) and store its rows."""
    k = np.array([p["k"] for p in points])
    drift = np.array([p["drift"] for p in points])
    emittance = np.array([p["emittance"] for p in points])
    f = 1.0 / k
    sigma = np.sqrt((f * f / drift + drift) * emittance)
    rows = []
    for p, fl, s in zip(points, f.tolist(), sigma.tolist()):
        key = json.dumps({"model": "focus", "version": "1.0", "inputs": p}, sort_keys=True)
        rows.append((hashlib.sha256(key.encode()).hexdigest(), p["k"], p["drift"],
                     p["emittance"], fl, s))
    con = sqlite3.connect(DB, timeout=60)
    with con:
        con.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.close()
    return len(rows)


@flow
def focus_scan() -> int:
    """The focus grid, one task per chunk."""
    con = sqlite3.connect(DB)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS results (inputs_hash TEXT PRIMARY KEY, k REAL, "
                "drift REAL, emittance REAL, focal_length REAL, sigma REAL)")
    con.execute("CREATE INDEX IF NOT EXISTS results_k ON results (k)")
    con.execute("CREATE INDEX IF NOT EXISTS results_drift ON results (drift)")
    con.close()
    ks = np.linspace(0.5, 5, SIDE).tolist()
    points = [{"k": k, "drift": d, "emittance": 1e-6} for k in ks for d in ks]
    chunks = [points[i : i + CHUNK] for i in range(0, len(points), CHUNK)]
    futures = [scan_chunk.submit(c) for c in chunks]
    return sum(f.result() for f in futures)


if __name__ == "__main__":
    n = focus_scan()
    assert n == SIDE * SIDE, n
    con = sqlite3.connect(DB)
    assert con.execute("SELECT count(*) FROM results").fetchone()[0] == n
'''


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_venv(venv: Path) -> Path:
    """The venv's python, with Prefect 3 installed (created and installed if missing)."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import prefect, sys; sys.exit(prefect.__version__[0] != '3')"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "prefect>=3,<4", "numpy"], check=True
    )
    print(f"[prefect] venv made in {time.perf_counter() - t0:.0f} s: {venv}", file=sys.stderr)
    return python


def start_server(venv: Path, home: Path) -> tuple[subprocess.Popen, str, dict[str, str]]:
    """Start `prefect server start` on a free port; return (process, API URL, client env)."""
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            str(venv / "bin" / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"prefect server exited; see {home / 'server.log'}")
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, api, {**env, "PREFECT_API_URL": api}
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"prefect server did not answer in 180 s; see {home / 'server.log'}")


def stop(proc: subprocess.Popen) -> None:
    """Stop the server we started, by its PID (then SIGKILL if it lingers)."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall seconds of one fresh process (which must succeed)."""
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return wall


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000, help="a square number")
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--venv", type=Path, default=Path("/tmp/lume-prefect-bench/venv"))
    args = ap.parse_args(argv)
    side = math.isqrt(args.points)
    if side * side != args.points:
        raise SystemExit("--points must be a square number (a side × side grid)")
    python = ensure_venv(args.venv)
    base = Path(tempfile.mkdtemp(prefix="lume-prefect-bench-"))
    try:
        (base / "defs").mkdir()
        (base / "defs" / "bench_focus_defs.py").write_text(DEFS.format(side=side, chunk=args.chunk))
        (base / "flow.py").write_text(FLOW)
        (base / "prefect").mkdir()
        (base / "dagster").mkdir()
        load = os.getloadavg()
        server, api, prefect_env = start_server(args.venv, base / "prefect")
        lume_cli = str(Path(sys.executable).parent / "lume-assets")
        lume_s: list[float] = []
        prefect_s: list[float] = []
        try:
            # warm-up of each side (page cache, first-run migrations), not counted
            for r in range(args.rounds + 1):
                run = base / f"round{r}"
                run.mkdir()
                lume_env = {
                    **os.environ,
                    "LUME_HOME": str(run / "lume"),
                    "DAGSTER_HOME": str(base / "dagster"),
                    "LUME_LOCATION": "bench_focus_defs",
                    "PYTHONPATH": os.pathsep.join([str(base / "defs"), str(REPO)]),
                }
                # PYTHONDONTWRITEBYTECODE (set in some sandboxes) would compile lume_assets'
                # recently edited modules from source in every process, while the Prefect venv's
                # site-packages have their .pyc (as in cli_bench.py: a user's Python caches them)
                for key in (
                    "LUME_RESULTS_URL",
                    "LUME_REGISTRY_URL",
                    "LUME_CHUNK_RUNNER",
                    "PYTHONDONTWRITEBYTECODE",
                ):
                    lume_env.pop(key, None)
                lume = timed([lume_cli, "scan", "focus/grid"], lume_env, run)
                flow = timed(
                    [
                        str(python),
                        str(base / "flow.py"),
                        str(side),
                        str(args.chunk),
                        str(run / "prefect.db"),
                    ],
                    prefect_env,
                    run,
                )
                label = "warm-up" if r == 0 else f"round {r}"
                print(f"{label}: lume-assets scan {lume:.2f} s, Prefect flow {flow:.2f} s")
                if r:
                    lume_s.append(lume)
                    prefect_s.append(flow)
        finally:
            stop(server)
        after = os.getloadavg()
        lm, pm = statistics.median(lume_s), statistics.median(prefect_s)
        version = subprocess.run(
            [str(python), "-c", "import prefect; print(prefect.__version__)"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        print(
            f"\n{args.points} points, chunks of {args.chunk}, Prefect {version} server at {api}\n"
            f"median of {args.rounds}: lume-assets scan {lm:.2f} s, Prefect tasks {pm:.2f} s, "
            f"ratio lume/Prefect {lm / pm:.2f} (target <= 1.0)\n"
            f"load average before {load[0]:.1f}, after {after[0]:.1f} ({os.cpu_count()} cores)"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
