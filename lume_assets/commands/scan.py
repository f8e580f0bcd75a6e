"""`lume-assets scan ASSET`: materialize a partitioned scan (a backfill), showing progress."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

import click

from lume_assets.commands.common import (
    echo_json,
    json_option,
    make_client,
    progress_bar,
    remote_option,
)
from lume_assets.errors import ClientError


def select_partitions(
    everything: Sequence[str], chosen: Sequence[str], first: str | None, last: str | None
) -> list[str] | None:
    """The partitions to run: those named, else the range first..last (None: all of them)."""
    if chosen and (first or last):
        raise click.UsageError("Give --partition or --first/--last, not both.")
    if chosen:
        return list(chosen)
    if not (first or last):
        return None
    for name, key in (("--first", first), ("--last", last)):
        if key is not None and key not in everything:
            raise ClientError(
                f"{name} {key!r} is not a partition; partitions: {', '.join(everything[:10])}"
                f"{' ...' if len(everything) > 10 else ''}."
            )
    start = everything.index(first) if first else 0
    stop = everything.index(last) if last else len(everything) - 1
    if stop < start:
        raise ClientError(f"--first {first!r} comes after --last {last!r}.")
    return list(everything[start : stop + 1])


def _progress_lines() -> contextlib.AbstractContextManager[object]:
    """Echo a scan's own progress lines (points done, rate, ETA) to stderr, in this process."""
    try:
        from lume_assets.automation.progress import subscribe
    except ImportError:  # pragma: no cover - scans without progress reporting
        return contextlib.nullcontext()
    return subscribe(lambda line: click.echo(line, err=True))


@click.command()
@click.argument("asset")
@click.option(
    "--partition",
    "-p",
    "partitions",
    multiple=True,
    metavar="KEY",
    help="Only this partition (repeat); default: every partition.",
)
@click.option("--first", help="First partition of a range (default: the first).")
@click.option("--last", help="Last partition of a range (default: the last).")
@click.option("--timeout", type=float, help="Give up waiting after this many seconds (remote).")
@remote_option
@json_option
def scan(
    asset: str,
    partitions: tuple[str, ...],
    first: str | None,
    last: str | None,
    timeout: float | None,
    remote: str | None,
    as_json: bool,
) -> None:
    """Backfill the partitions of scan ASSET (e.g. envelope_scan, focus/grid).

    A contiguous range of a single-run asset is ONE run. Progress: a bar on a terminal; else
    lines on stderr (the scan's own points/rate/ETA lines, and partitions done).
    """
    client = make_client(remote)
    if client.mode == "local":  # the run is in this process: its overview's drawing process
        from lume_assets.models.plot_process import prestart  # starts now, beside Dagster's

        prestart()
    try:
        keys = partitions
        if first or last:
            keys = select_partitions(client.partitions(asset), partitions, first, last) or ()
        lines = not sys.stderr.isatty() and client.mode == "local"
        with _progress_lines() if lines else contextlib.nullcontext():
            with progress_bar(f"scan {asset}") as update:
                info = client.backfill(asset, list(keys) or None, progress=update, timeout=timeout)
    finally:
        client.close()
    if as_json:
        echo_json(info.model_dump())
        return
    span = f"{info.partitions[0]}...{info.partitions[-1]}" if info.partitions else "-"
    click.echo(
        f"backfill {info.backfill_id} succeeded: {len(info.partitions)} partition(s) {span} "
        f"of {asset} in {len(info.run_ids)} run(s): {', '.join(info.run_ids)}"
    )
