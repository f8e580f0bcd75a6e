"""Commands started together on a fresh DAGSTER_HOME create its storage exactly once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.dagit_server import ROOT, project_env

#: What every command does first: open the instance at DAGSTER_HOME and read from it.
OPEN = (
    "from lume_assets.deploy.instance import open_instance\n"
    "with open_instance() as instance:\n"
    "    instance.get_runs(limit=1)\n"
    "print('ok')\n"
)
PROCESSES = 6


def alembic_rows(db: Path) -> int:
    """Rows of the alembic_version table of SQLite database `db`."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0]


def test_concurrent_first_commands_on_a_fresh_home_leave_one_valid_instance(
    tmp_path: Path,
) -> None:
    # without the lock, 6 processes corrupted a fresh home in 3 of 3 trials on 2 cores
    home = tmp_path / "dagster_home"
    home.mkdir()
    # the repository's dagster.yaml (SQLite storage under DAGSTER_HOME, queued runs)
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = project_env(tmp_path / "lume", home)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outcomes = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0 and out.strip() == "ok", err[-2000:]
    for db in ("history/runs.db", "schedules/schedules.db", "history/runs/index.db"):
        assert alembic_rows(home / db) == 1, db
    assert os.path.exists(home / ".lume-instance.lock")
