"""Subprocess helpers: `lume-assets` and `dg` in a folder, with a package put on the path as
if installed (its `.dist-info` beside it, so its entry points are seen)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.dagit_server import ROOT, lume_assets_exe


def dist_info(folder: Path, dist: str, entry_points: dict[str, dict[str, str]]) -> Path:
    """Write `<dist>-0.1.0.dist-info` (METADATA, entry_points.txt) into `folder` (a sys.path
    entry): importlib.metadata then finds the distribution and its entry points, as pip's."""
    info = folder / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    lines = []
    for group, names in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {ref}" for name, ref in names.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return info


def env_for(lume_home: Path, dagster_home: Path, *paths: Path) -> dict[str, str]:
    """Environment for subprocesses: fresh homes, `paths` then this checkout on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUME_")}
    env.update(
        LUME_HOME=str(lume_home),
        DAGSTER_HOME=str(dagster_home),
        PYTHONPATH=os.pathsep.join([*(str(p) for p in paths), str(ROOT)]),
        PATH=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
    )
    return env


def lume(
    env: dict[str, str], cwd: Path, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run `lume-assets ARGS` in `cwd`."""
    return subprocess.run(
        [lume_assets_exe(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def dg_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `dg ARGS` (dagster-dg-cli of this environment) in `cwd`."""
    exe = Path(sys.executable).with_name("dg")
    return subprocess.run(
        [str(exe), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
