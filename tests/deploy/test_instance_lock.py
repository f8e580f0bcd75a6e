"""Commands started together on a fresh DAGSTER_HOME create its storage exactly once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from lume_assets.deploy import instance
from tests.dagit_server import ROOT, project_env

#: What every command does first: open the instance at DAGSTER_HOME and read from it. Each
#: process imports first, says it is ready and waits for "go", so all of them open the fresh
#: instance at the same moment however slowly they started (the imports take seconds).
OPEN = (
    "import sys\n"
    "from lume_assets.deploy.instance import open_instance\n"
    "print('ready', flush=True)\n"
    "sys.stdin.readline()\n"
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
    # without the lock, 6 processes released together corrupted a fresh home (two
    # alembic_version rows or a failed command) in every trial on 2 cores
    home = tmp_path / "dagster_home"
    home.mkdir()
    # the repository's dagster.yaml (SQLite storage under DAGSTER_HOME, queued runs)
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = project_env(tmp_path / "lume", home)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for proc in procs:  # a real condition, however long the imports take
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert not home.joinpath("history").exists()  # nobody touched the storage yet
        for proc in procs:  # release them together
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = [p.communicate(timeout=600) for p in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for proc, (out, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0 and out.strip() == "ok", err[-2000:]
    for db in ("history/runs.db", "schedules/schedules.db", "history/runs/index.db"):
        assert alembic_rows(home / db) == 1, db
    assert os.path.exists(home / ".lume-instance.lock")
    # marked ready: later commands open it without the lock; not once a database is gone
    assert instance._ready(home)
    (home / "schedules" / "schedules.db").unlink()
    assert not instance._ready(home)
