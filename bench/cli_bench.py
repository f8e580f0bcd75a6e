"""Wall time and peak memory of whole `lume-assets` processes vs plain Dagster, interleaved.

Each round runs every case once as a fresh process under `/usr/bin/time -v` (wall clock and
max RSS), in the same order, on one fresh LUME_HOME / DAGSTER_HOME; the table shows medians over
the rounds. Cases:

- `import dagster`, `import lume_assets.demo.definitions` (the demo code location, built) and
  `import lume_assets.serving` (the product's building blocks) in `python -c`;
- `lume-assets models list`, `lume-assets results beam_envelope --limit 5`;
- `lume-assets run beam_envelope -i k_f=2.2` on a cache hit (the result exists already): answered
  from the result store; with `--record-run`, a Dagster run records the hit (the start-up of a
  command that runs Dagster, plus Dagster's run); with `--force`, the model is evaluated again;
- `dagster asset materialize` of a trivial one-asset file in a fresh process (the floor of any
  Dagster run from a command line).

With `--baseline DIR` (another checkout), its demo definitions import and its `run` cache hit
(on homes of its own: the two checkouts' model snapshots have different keys) join the rounds.

    PYTHONPATH=$PWD .venv/bin/python bench/cli_bench.py [--rounds 5] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DAGSTER = "python -c 'import dagster'"
TRIVIAL = """
import dagster as dg


@dg.asset
def trivial() -> int:
    return 1


defs = dg.Definitions(assets=[trivial])
"""


def measure(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """(wall seconds, max RSS MB, CPU seconds user+sys) of one process under /usr/bin/time -v;
    fail loudly on error. CPU time moves far less than wall time on a loaded machine."""
    done = subprocess.run(
        ["/usr/bin/time", "-v", *argv], env=env, cwd=cwd, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    assert wall and rss, done.stderr[-2000:]
    user = re.search(r"User time \(seconds\): ([\d.]+)", done.stderr)
    system = re.search(r"System time \(seconds\): ([\d.]+)", done.stderr)
    assert user and system, done.stderr[-2000:]
    hours, minutes, seconds = wall.groups()
    return (
        int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds),
        int(rss.group(1)) / 1024,
        float(user.group(1)) + float(system.group(1)),
    )


def main() -> None:
    """Run the interleaved rounds and print a Markdown table of medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of lume_assets (e.g. `git archive main`): also time importing its "
        "demo definitions and its `run` cache hit, first on sys.path, in the same rounds",
    )
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    lume, dagster = str(bindir / "lume-assets"), str(bindir / "dagster")
    with tempfile.TemporaryDirectory(prefix="cli-bench-") as tmp:
        base = Path(tmp)
        for home in ("lume", "dagster", "old-lume", "old-dagster"):
            (base / home).mkdir()
        (base / "trivial.py").write_text(TRIVIAL)
        env = {
            **os.environ,
            "LUME_HOME": str(base / "lume"),
            "DAGSTER_HOME": str(base / "dagster"),
            "PYTHONWARNINGS": "ignore",
        }
        env.pop("LUME_RESULTS_URL", None)
        env.pop("LUME_REGISTRY_URL", None)
        # A user's Python caches bytecode; with PYTHONDONTWRITEBYTECODE (set in some sandboxes)
        # lume_assets' ~80 modules would be compiled from source in every process while
        # dagster's site-packages have their .pyc, which is no like-for-like comparison.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        py = sys.executable
        old_env = {
            **env,
            "LUME_HOME": str(base / "old-lume"),
            "DAGSTER_HOME": str(base / "old-dagster"),
        }
        run_hit = ["run", "beam_envelope", "-i", "k_f=2.2"]
        cases = {
            "python -c 'import dagster'": [py, "-c", "import dagster"],
            "python -c 'import lume_assets.demo.definitions'": [
                py,
                "-c",
                "import lume_assets.demo.definitions",
            ],
            "python -c 'import lume_assets.serving'": [py, "-c", "import lume_assets.serving"],
            **(
                {
                    "python -c 'import lume_assets.demo.definitions' (baseline)": [
                        py,
                        "-c",
                        f"import sys; sys.path.insert(0, {str(args.baseline.resolve())!r}); "
                        "import lume_assets.demo.definitions",
                    ]
                }
                if args.baseline
                else {}
            ),
            "lume-assets models list": [lume, "models", "list"],
            "lume-assets results beam_envelope --limit 5": [
                lume,
                "results",
                "beam_envelope",
                "--limit",
                "5",
            ],
            "lume-assets run beam_envelope -i k_f=2.2 (cache hit)": [lume, *run_hit],
            "lume-assets run beam_envelope -i k_f=2.2 --record-run (cache hit)": [
                lume,
                *run_hit,
                "--record-run",
            ],
            "lume-assets run beam_envelope -i k_f=2.2 --force": [lume, *run_hit, "--force"],
            **(
                {
                    "lume-assets run beam_envelope -i k_f=2.2 (cache hit) (baseline)": [
                        py,
                        "-c",
                        f"import sys; sys.path.insert(0, {str(args.baseline.resolve())!r}); "
                        f"sys.argv = ['lume-assets', *{run_hit!r}]; "
                        "from lume_assets.cli import main; main()",
                    ]
                }
                if args.baseline
                else {}
            ),
            "dagster asset materialize (trivial asset)": [
                dagster,
                "asset",
                "materialize",
                "-f",
                str(base / "trivial.py"),
                "--select",
                "trivial",
            ],
        }
        # Warm-up: the first run stores the result the cache-hit case then finds.
        envs = {n: old_env if "(baseline)" in n and " run " in n else env for n in cases}
        for name, argv in cases.items():
            measure(argv, envs[name], base)
        times: dict[str, list[float]] = {name: [] for name in cases}
        rss: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, argv in cases.items():
                wall, mem, used = measure(argv, envs[name], base)
                times[name].append(wall)
                rss[name].append(mem)
                cpu[name].append(used)
    med = {name: statistics.median(values) for name, values in times.items()}
    cpu_med = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"{args.rounds} interleaved rounds, medians; {os.cpu_count()} cores\n")
    print("| command | wall s (median) | min..max s | CPU s (median) | max RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for name in cases:
        print(
            f"| `{name}` | {med[name]:.2f} | {min(times[name]):.2f}..{max(times[name]):.2f} "
            f"| {cpu_med[name]:.2f} | {statistics.median(rss[name]):.0f} |"
        )
    location = med["python -c 'import lume_assets.demo.definitions'"]
    imports = location / med["python -c 'import dagster'"]
    hit = med["lume-assets run beam_envelope -i k_f=2.2 (cache hit)"]
    floor = med["dagster asset materialize (trivial asset)"]
    serving = med["python -c 'import lume_assets.serving'"] / med[DAGSTER]
    print(f"\nimport definitions / import dagster: {imports:.2f}x")
    print(f"import lume_assets.serving / import dagster: {serving:.2f}x")
    if args.baseline:
        old = med["python -c 'import lume_assets.demo.definitions' (baseline)"]
        print(f"import definitions (baseline) / import dagster: {old / med[DAGSTER]:.2f}x")
    for name in cases:
        if name.startswith("python -c 'import lume_assets"):
            print(
                f"CPU time, {name[11:-1]} / import dagster: {cpu_med[name] / cpu_med[DAGSTER]:.2f}x"
            )
    recorded = med["lume-assets run beam_envelope -i k_f=2.2 --record-run (cache hit)"]
    print(f"run cache hit / dagster asset materialize (trivial): {hit / floor:.2f}x")
    print(f"run --record-run (a Dagster run) / dagster asset materialize: {recorded / floor:.2f}x")
    if args.baseline:
        old_hit = med["lume-assets run beam_envelope -i k_f=2.2 (cache hit) (baseline)"]
        print(f"run cache hit (baseline) / dagster asset materialize: {old_hit / floor:.2f}x")


if __name__ == "__main__":
    main()
