"""Who wrote something, and whether that process still runs: pid + start time + host.

A pid alone is reused by the kernel; the start time (from /proc, in clock ticks since boot)
tells a reused pid apart from the original writer. A process on another host (another
container, another node sharing a filesystem) cannot be checked: `is_alive` answers None.
"""

from __future__ import annotations

import hashlib
import os
import socket
from functools import cache

from pydantic import BaseModel, ConfigDict


class ProcessId(BaseModel):
    """One process, identified across pid reuse: its host, pid and start time (0: unknown)."""

    model_config = ConfigDict(frozen=True)

    host: str
    pid: int
    start: int = 0

    def token(self) -> str:
        """A compact, file-name-safe form: '<pid>.<start>.<host hash>'."""
        return f"{self.pid}.{self.start}.{host_hash(self.host)}"


def host_hash(host: str) -> str:
    """8 hex digits naming a host in file names."""
    return hashlib.sha256(host.encode()).hexdigest()[:8]


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of `pid`; ('?', 0) without /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except FileNotFoundError:
        return None if os.path.isdir("/proc/self") else ("?", 0)
    except OSError:
        return ("?", 0)
    fields = stat[stat.rfind(b")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    return fields[0].decode(), int(fields[19])  # fields 3 and 22 of proc(5): state, starttime


def start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (0 without /proc, None if no such pid)."""
    found = _proc_stat(pid)
    return None if found is None else found[1]


@cache
def _this_process(pid: int) -> ProcessId:
    """The ProcessId of the process with `pid` (cached per pid: a fork gets its own)."""
    return ProcessId(host=socket.gethostname(), pid=pid, start=start_time(pid) or 0)


def this_process() -> ProcessId:
    """The ProcessId of the calling process."""
    return _this_process(os.getpid())


def is_alive(process: ProcessId) -> bool | None:
    """Whether `process` still runs: None when it ran on another host (cannot be checked)."""
    if process.host != socket.gethostname():
        return None
    return pid_alive(process.pid, process.start)


def pid_alive(pid: int, start: int = 0) -> bool:
    """Whether `pid` runs on this host and (with `start` known) is the same process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    found = _proc_stat(pid)
    if found is None or found[0] in ("Z", "X"):  # gone, or a zombie (dead, not yet reaped)
        return False
    return not start or found[1] in (0, start)
