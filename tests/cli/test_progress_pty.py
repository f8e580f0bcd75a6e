"""Progress of a scan on a real terminal: the installed CLI under a pseudo-terminal (pty).

The scan's stderr is the pty's slave end, so `isatty()` is true as it is for a user: the bar
must be redrawn in place (carriage returns) with a rate and an ETA, and end with the total.
Piped, the same command prints plain lines instead.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.dagit_server import lume_assets_exe, project_env

SCAN = ("scan", "focus/grid", "--first", "grid-00000", "--last", "grid-00002")


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh LUME_HOME and DAGSTER_HOME."""
    (tmp_path / "lume").mkdir()
    (tmp_path / "dagster").mkdir()
    return {**project_env(tmp_path / "lume", tmp_path / "dagster"), "COLUMNS": "120"}


def run_in_pty(argv: list[str], env: dict[str, str], timeout: float = 600) -> tuple[int, str]:
    """Run `argv` with stdout and stderr on a pseudo-terminal; return (exit code, output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, env=env, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the slave side closed: the process is done
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, b"".join(chunks).decode(errors="replace")


def test_scan_bar_redraws_on_a_terminal_and_prints_lines_when_piped(env: dict[str, str]) -> None:
    code, out = run_in_pty([lume_assets_exe(), *SCAN], env)
    assert code == 0, out[-3000:]
    frames = [f for f in re.split(r"[\r\n]+", out) if f.startswith("scan focus/grid [")]
    assert len(frames) >= 2, out[-3000:]  # drawn more than once ...
    assert "\r" in out.split("scan focus/grid [", 1)[1]  # ... in place, with a carriage return
    assert all(re.search(r"\d+/\d+ [\d,.]+/s (ETA|in) ", f) for f in frames), frames
    assert re.search(r"\[#{24}\] (3|3000)/\1 ", frames[-1]), frames[-1]  # partitions or points
    piped = subprocess.run(
        [lume_assets_exe(), *SCAN, "--json"], env=env, capture_output=True, text=True, timeout=600
    )
    assert piped.returncode == 0, piped.stderr[-2000:]
    assert "\r" not in piped.stderr
    assert re.search(r"^scan focus/grid: (3|3000)/\1 \(", piped.stderr, re.M), piped.stderr
