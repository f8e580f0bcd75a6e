"""Shared pieces of the CLI: the client from --remote, k=v inputs, progress bars, tables."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
import numpy as np

#: `--remote URL` on every command that can talk to a server (env LUME_REMOTE_URL).
remote_option = click.option(
    "--remote",
    "remote",
    metavar="URL",
    envvar="LUME_REMOTE_URL",
    help="A running dagster-webserver, e.g. http://127.0.0.1:3000 (env LUME_REMOTE_URL); "
    "default: run in this process.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def make_client(remote: str | None, results_url: str | None = None) -> Any:
    """A LumeClient: remote when a URL is given, else in-process."""
    from lume_assets.client import LumeClient

    return LumeClient(remote, results_url=results_url)


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (numbers, true, [1, 2]), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_inputs(pairs: Sequence[str]) -> dict[str, Any]:
    """`k=v` pairs as a dict (BadParameter, exit code 2, on a malformed pair)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(
                f"{pair!r} is not NAME=VALUE (e.g. --input k_f=2.2)", param_hint="--input"
            )
        out[name.strip()] = parse_value(value.strip())
    return out


def jsonable(value: Any) -> Any:
    """A value as plain JSON types (arrays as lists, datetimes as ISO text)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump())
    return value


def echo_json(value: Any) -> None:
    """Print a value as indented JSON."""
    click.echo(json.dumps(jsonable(value), indent=2))


def show(value: Any) -> str:
    """Short text of a value for a table cell."""
    if isinstance(value, np.ndarray):
        if value.size and value.dtype.kind in "fiu":
            return f"{value.dtype}{list(value.shape)} {value.min():.4g}..{value.max():.4g}"
        return f"{value.dtype}{list(value.shape)}"
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    if isinstance(value, str) and ("\n" in value or len(value) > 40):
        first = value.strip().splitlines()[0] if value.strip() else ""
        return f"{first[:37]}..." if len(first) > 37 or "\n" in value.strip() else first
    if value is None:
        return ""
    return str(value)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain-text table."""
    from tabulate import tabulate

    return tabulate([[show(c) for c in row] for row in rows], headers=list(headers))


class LiveBar:
    """A progress bar redrawn in place on a terminal: bar, done/total, rate and ETA.

    Fed with (done, total); redraws at most every `interval` seconds (and at the end) with a
    carriage return, so a terminal shows one live line. Off a terminal, each change of `done`
    is one plain line `label: done/total (rate/s, ETA s)` instead.
    """

    WIDTH = 24

    def __init__(self, label: str, stream: Any, tty: bool, interval: float = 0.1) -> None:
        """Draw `label` progress on `stream` (a live line if `tty`)."""
        self.label, self.stream, self.tty, self.interval = label, stream, tty, interval
        self.started = time.monotonic()
        self.drawn = -1.0
        self.last: tuple[int, int] | None = None
        self.width = 0

    def text(self, done: int, total: int) -> str:
        """The progress line for (done, total) at the current time."""
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = f"ETA {(total - done) / rate:.0f} s" if rate > 0 and done < total else "ETA -"
        if done >= total > 0:
            eta = f"in {elapsed:.1f} s"
        rate_text = f"{rate:,.1f}/s" if rate < 100 else f"{rate:,.0f}/s"
        if not self.tty:
            return f"{self.label}: {done}/{total} ({rate_text}, {eta})"
        filled = int(self.WIDTH * done / total) if total else 0
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        return f"{self.label} [{bar}] {done}/{total} {rate_text} {eta}"

    def update(self, done: int, total: int) -> None:
        """Report (done, total): redraw (terminal) or print a line when it changed."""
        now = time.monotonic()
        if not self.tty:
            if (done, total) != self.last:
                self.last = (done, total)
                self.stream.write(f"{self.text(done, total)}\n")
                self.stream.flush()
            return
        if (done, total) == self.last and now - self.drawn < 1.0:
            return  # unchanged: still refresh rate and ETA about once a second
        if not (total > 0 and done >= total) and now - self.drawn < self.interval:
            return  # at most 10 redraws a second; the final state is always drawn
        self.last, self.drawn = (done, total), now
        line = self.text(done, total)
        self.stream.write(f"\r{line}{' ' * max(0, self.width - len(line))}")
        self.width = len(line)
        self.stream.flush()

    def close(self) -> None:
        """End the live line (a newline after the last redraw)."""
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()


@contextmanager
def progress_bar(label: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A live bar (points/s, ETA) on stderr fed with (done, total); shown from the first report.

    Nothing is drawn before work starts, so an early error stays a one-line message. Off a
    terminal, each change is one plain line.
    """
    bar = LiveBar(label, sys.stderr, sys.stderr.isatty())
    lock = threading.Lock()

    def update(done: int, total: int) -> None:
        if enabled:
            with lock:  # reports come from the run thread and the waiting one
                bar.update(done, total)

    try:
        yield update
    finally:
        bar.close()
