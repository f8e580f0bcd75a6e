"""Temp files of atomic writes: named after their writer, found and removed once stale.

An atomic write goes to `.<name>.tmp-<pid>.<start>.<host hash>-<random>` beside `<name>`. A
process killed mid-write leaves that file behind; it is stale once its writer is gone (same
host, pid dead or reused) or, when the writer cannot be checked (another host, an older name
without the writer), once it has not been modified for `older_than` seconds. A file whose
writer still runs is never stale. `is_stale_temp` is the one test, used by the next write to
a folder (`sweep_once` → `remove_stale_temp_files`) and by `lume-assets gc` (storage.integrity).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from pathlib import Path

from lume_assets.storage.processes import ProcessId, host_hash, pid_alive, this_process

#: Seconds without modification after which a temp file of an unknown writer is stale.
STALE_AFTER_S = 3600.0
#: Seconds between two sweeps of the same folder by one process.
SWEEP_EVERY_S = 60.0

_TEMP = re.compile(
    r"^\..+\.tmp-(?:(?P<pid>\d+)\.(?P<start>\d+)\.(?P<host>[0-9a-f]{8})-)?[0-9a-f]{12}$"
)
_swept: dict[str, float] = {}
_swept_lock = threading.Lock()


def temp_name(target: Path, token: str, writer: ProcessId | None = None) -> Path:
    """The temp path beside `target` for a write by `writer` (default: this process)."""
    who = (writer or this_process()).token()
    return target.parent / f".{target.name}.tmp-{who}-{token}"


def is_stale_temp(
    path: str | os.PathLike[str], older_than: float = STALE_AFTER_S, now: float | None = None
) -> bool:
    """Whether `path` is a temp file of an atomic write whose writer is gone (see module)."""
    path = Path(path)
    match = _TEMP.match(path.name)
    if match is None or path.is_symlink() or not path.is_file():
        return False
    if match["pid"] is not None and match["host"] == host_hash(this_process().host):
        return not pid_alive(int(match["pid"]), int(match["start"]))
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age > older_than


def stale_temp_files(
    directory: str | os.PathLike[str], older_than: float = STALE_AFTER_S
) -> list[Path]:
    """Temp files of atomic writes directly in `directory` whose writer is gone (see module)."""
    now = time.time()
    try:
        with os.scandir(directory) as entries:
            names = [e.path for e in entries if e.name.startswith(".") and ".tmp-" in e.name]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [Path(p) for p in names if is_stale_temp(p, older_than, now)]


def remove_stale_temp_files(
    directory: str | os.PathLike[str], older_than: float = STALE_AFTER_S
) -> list[Path]:
    """Remove the stale temp files in `directory`; return those removed."""
    removed = []
    for path in stale_temp_files(directory, older_than):
        with contextlib.suppress(FileNotFoundError):  # another sweeper was first
            path.unlink()
            removed.append(path)
    return removed


def sweep_once(directory: Path) -> None:
    """Remove stale temp files in `directory`, at most once per SWEEP_EVERY_S per process."""
    key = str(directory)
    now = time.monotonic()
    with _swept_lock:
        if now - _swept.get(key, -SWEEP_EVERY_S) < SWEEP_EVERY_S:
            return
        if len(_swept) > 10_000:  # bounded memory in a process writing to many folders
            _swept.clear()
        _swept[key] = now
    with contextlib.suppress(OSError):  # cleanup never fails a write
        remove_stale_temp_files(directory)
