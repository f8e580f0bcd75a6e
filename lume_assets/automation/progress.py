"""Progress of long work (scans, backfills): one line per step, to the run log and the CLI.

`Progress` counts points and formats a line (`progress_line`). Lines go to the callback given
(the run log inside Dagster) and to every in-process subscriber — the CLI subscribes while it
runs a scan in its own process, so the same lines reach the terminal.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

Listener = Callable[[str], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def progress_line(label: str, done: int, total: int, elapsed: float) -> str:
    """Format '<label>: done/total points (pct%) in Xs, N points/s, ETA Ys'."""
    pct = 100.0 * done / total if total else 100.0
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else 0.0
    return (
        f"{label}: {done}/{total} points ({pct:.0f}%) in {elapsed:.1f} s, "
        f"{rate:,.0f} points/s, ETA {eta:.1f} s"
    )


@contextlib.contextmanager
def subscribe(listener: Listener) -> Iterator[None]:
    """Receive every progress line emitted in this process while the block runs."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


class Progress:
    """Counts finished points of `total` and reports a line after each step."""

    def __init__(self, label: str, total: int, emit: Listener | None = None) -> None:
        """Start the clock for `total` points labelled `label`."""
        self.label = label
        self.total = total
        self.done = 0
        self.emit = emit
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        """Return seconds since the start."""
        return time.perf_counter() - self.started

    def advance(self, points: int) -> str:
        """Record `points` more finished points and report the line."""
        self.done += points
        line = progress_line(self.label, self.done, self.total, self.elapsed())
        if self.emit is not None:
            self.emit(line)
        with _lock:
            listeners = list(_listeners)
        for listener in listeners:
            listener(line)
        return line
