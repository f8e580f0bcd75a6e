"""`lume-assets scan ASSET`: materialize a partitioned scan (a backfill) with a progress bar."""

from __future__ import annotations

import click

from lume_assets.commands.common import (
    echo_json,
    json_option,
    make_client,
    progress_bar,
    remote_option,
)


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
@click.option("--timeout", type=float, help="Give up waiting after this many seconds (remote).")
@remote_option
@json_option
def scan(
    asset: str,
    partitions: tuple[str, ...],
    timeout: float | None,
    remote: str | None,
    as_json: bool,
) -> None:
    """Backfill the partitions of scan ASSET (e.g. envelope_scan) and report the runs."""
    client = make_client(remote)
    try:
        with progress_bar(f"scan {asset}") as update:
            info = client.backfill(
                asset, list(partitions) or None, progress=update, timeout=timeout
            )
    finally:
        client.close()
    if as_json:
        echo_json(info.model_dump())
        return
    click.echo(
        f"backfill {info.backfill_id} of {asset}: {info.status}, "
        f"{len(info.partitions)} partition(s) in {len(info.run_ids)} run(s)"
    )
    for run_id in info.run_ids:
        click.echo(f"  run {run_id}")
