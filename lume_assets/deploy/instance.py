"""The local Dagster instance: DAGSTER_HOME defaulted, its storage created once under a lock.

Dagster creates an instance's storage (tables + an `alembic_version` stamp) the first time
the instance is opened. Two processes doing that at once on a fresh DAGSTER_HOME can both
stamp it (`alembic_version` with two rows) and every later command then fails. `open_instance`
opens the instance while holding an exclusive `flock` on `<DAGSTER_HOME>/.lume-instance.lock`,
so storage is created by one process while the others wait; the lock is released as soon as
the storage exists (a second or so), not held while the instance is used.

Once created, the storage is marked ready (`<DAGSTER_HOME>/.lume-instance-ready`: a digest of
dagster.yaml and the SQLite files made): later commands open the instance without the lock and
without touching every storage (reading all asset records costs more the more assets there are).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from lume_assets.settings import get_settings

LOCK_NAME = ".lume-instance.lock"
READY_NAME = ".lume-instance-ready"
#: The SQLite databases Dagster creates in DAGSTER_HOME with its default (sqlite) storage.
SQLITE_FILES = ("history/runs.db", "history/runs/index.db", "schedules/schedules.db")
#: dagster.yaml of a DAGSTER_HOME we create: the daemon fails runs whose process is gone.
DEFAULT_DAGSTER_YAML = """\
telemetry:
  enabled: false
run_launcher:
  module: lume_assets.deploy.liveness
  class: LocalRunLauncher
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  poll_interval_seconds: 30
"""


def ensure_dagster_home() -> Path:
    """Return DAGSTER_HOME, defaulting it to <LUME_HOME>/dagster_home with a dagster.yaml."""
    settings = get_settings()
    home = Path(os.environ.get("DAGSTER_HOME") or settings.home / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(DEFAULT_DAGSTER_YAML)
    return home


@contextlib.contextmanager
def instance_lock(home: Path) -> Iterator[None]:
    """Hold the exclusive instance-creation lock of DAGSTER_HOME `home`."""
    fd = os.open(home / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _readiness(home: Path) -> dict[str, object]:
    """What marks the storage of `home` ready: dagster.yaml's digest and the SQLite files made."""
    config = (home / "dagster.yaml").read_bytes() if (home / "dagster.yaml").exists() else b""
    files = [name for name in SQLITE_FILES if (home / name).exists()]
    return {"config": hashlib.sha256(config).hexdigest(), "files": files}


def _ready(home: Path) -> bool:
    """Whether the storage of `home` was created (marked) for its current dagster.yaml and its
    SQLite files are all still there."""
    try:
        marked = json.loads((home / READY_NAME).read_text())
        config = (home / "dagster.yaml").read_bytes()
    except (OSError, ValueError):
        return False
    files = marked.get("files") if isinstance(marked, dict) else None
    return (
        isinstance(files, list)
        and marked.get("config") == hashlib.sha256(config).hexdigest()
        and all((home / str(name)).exists() for name in files)
    )


def open_instance() -> dg.DagsterInstance:
    """The instance at DAGSTER_HOME (defaulted), its storage created under the lock."""
    home = ensure_dagster_home()
    if _ready(home):
        return dg.DagsterInstance.get()
    with instance_lock(home):
        instance = dg.DagsterInstance.get()
        try:  # storages may be created lazily: create every one while we hold the lock
            instance.run_storage.get_runs(limit=1)
            instance.event_log_storage.get_asset_records()
            if instance.schedule_storage is not None:
                instance.schedule_storage.all_instigator_state()
        except BaseException:
            instance.dispose()
            raise
        marker = home / f"{READY_NAME}.tmp-{os.getpid()}"
        with contextlib.suppress(OSError):  # unmarked: the next command takes the lock again
            marker.write_text(json.dumps(_readiness(home)))
            marker.replace(home / READY_NAME)
    return instance


def prepare_instance() -> Path:
    """Create the instance storage at DAGSTER_HOME (under the lock); return DAGSTER_HOME."""
    open_instance().dispose()
    return Path(os.environ["DAGSTER_HOME"])
