"""`lume-assets run` and `lume-assets status`: evaluate a model, follow a run."""

from __future__ import annotations

import click

from lume_assets.commands.common import (
    echo_json,
    json_option,
    make_client,
    parse_inputs,
    progress_bar,
    remote_option,
    table,
)


@click.command()
@click.argument("model")
@click.option(
    "--input", "-i", "inputs", multiple=True, metavar="NAME=VALUE", help="A model input (repeat)."
)
@click.option("--force", is_flag=True, help="Evaluate even if a cached result exists.")
@click.option(
    "--record-run",
    is_flag=True,
    help="On a cache hit, still start a Dagster run that records the hit as a materialization "
    "(default: the stored result is printed and no run is started).",
)
@click.option("--timeout", type=float, help="Give up waiting after this many seconds.")
@click.option("--results-url", help="Result store to read the result from (default: settings).")
@remote_option
@json_option
def run(
    model: str,
    inputs: tuple[str, ...],
    force: bool,
    record_run: bool,
    timeout: float | None,
    results_url: str | None,
    remote: str | None,
    as_json: bool,
) -> None:
    """Run MODEL with --input values (defaults fill the rest) and print its result.

    When the result of these inputs is already stored, it is printed from the result store and
    no run is started (--record-run starts one anyway; --force evaluates again).
    """
    values = parse_inputs(inputs)
    client = make_client(remote, results_url)
    try:
        hit = None if force or record_run else client.stored_hit(model, values)
        if hit is None:
            run_id: str | None = client.submit(model, values, force=force)
            with progress_bar(f"{model} run {run_id[:8]}") as update:
                client.wait(run_id, timeout=timeout, progress=update)
            result = client.result_of(run_id, model)
            meta = client.backend.materialization_metadata(run_id, client.model(model).result_asset)
        else:
            run_id, result, meta = None, hit, {"cache_hit": True}
    finally:
        client.close()
    problem = getattr(client.backend, "location_error", None) if hit is None else None
    if problem is not None:  # served without its (broken) code location: say why
        click.echo(f"warning: code location not loaded: {' '.join(str(problem).split())}", err=True)
    if as_json:
        hit_flag = bool(meta.get("cache_hit"))
        echo_json({"run_id": run_id, "cache_hit": hit_flag, **result.model_dump()})
        return
    if hit is not None:
        by = f"run {hit.provenance.run_id}" if hit.provenance.run_id else "a stored result"
        click.echo(
            f"cache hit: the result of {by} ({hit.created:%Y-%m-%d %H:%M:%S} UTC) from the result "
            "store; no new run was started (--record-run starts one)"
        )
    else:
        cached = " (cache hit: reused the stored result)" if meta.get("cache_hit") else ""
        click.echo(f"run {run_id} succeeded{cached}")
    click.echo(f"inputs hash: {result.inputs_hash}")
    rows = [[name, value] for name, value in result.outputs.items()]
    click.echo(table(rows, ["output", "value"]))
    for name, record in result.provenance.files.items():
        click.echo(f"  {name}: {record.host_path} (sha256 {(record.sha256 or '-')[:16]})")


@click.command()
@click.argument("run_id")
@click.option("--wait", is_flag=True, help="Wait for the run to finish (exit 1 if it fails).")
@remote_option
@json_option
def status(run_id: str, wait: bool, remote: str | None, as_json: bool) -> None:
    """Show the status of run RUN_ID: state, materialized assets, failure message."""
    client = make_client(remote)
    try:
        if wait:
            with progress_bar(f"run {run_id[:8]}") as update:
                info = client.backend.wait(run_id, progress=update)
        else:
            info = client.status(run_id)
    finally:
        client.close()
    if as_json:
        echo_json(info.model_dump())
    else:
        click.echo(f"run {info.run_id}: {info.status}")
        if info.started:
            ended = f" → {info.ended:%H:%M:%S}" if info.ended else ""
            click.echo(f"time: {info.started:%Y-%m-%d %H:%M:%S}{ended} UTC")
        click.echo(f"steps: {info.steps_done}/{info.steps_total}")
        for asset in info.assets:
            click.echo(f"  materialized {asset}")
        if info.error:
            click.echo(f"error: {info.error}")
    if wait and not info.succeeded:
        raise SystemExit(1)
