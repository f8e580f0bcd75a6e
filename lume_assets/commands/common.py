"""Shared pieces of the CLI: the client from --remote, k=v inputs, progress bars, tables."""

from __future__ import annotations

import json
import sys
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


@contextmanager
def progress_bar(label: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A click progress bar on stderr fed with (done, total); shown from the first report on.

    Nothing is drawn before work starts, so an early error stays a one-line message. Off a
    terminal, each change is one line `label: done/total`.
    """
    state: dict[str, Any] = {}
    tty = sys.stderr.isatty()

    def update(done: int, total: int) -> None:
        if not enabled:
            return
        if not tty:
            if state.get("last") != (done, total):
                state["last"] = (done, total)
                click.echo(f"{label}: {done}/{total}", err=True)
            return
        bar = state.get("bar")
        if bar is None:
            bar = click.progressbar(
                length=max(total, 1), label=label, show_pos=True, file=sys.stderr
            )
            state["bar"] = bar.__enter__()
        if total and bar.length != total:
            bar.length = total
        if done > bar.pos:
            bar.update(done - bar.pos)

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)
