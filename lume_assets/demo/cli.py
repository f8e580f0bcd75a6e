"""`lume-assets demo`: the demo's command, announced through the `lume_assets.commands` entry
point (the CLI imports nothing from the demo)."""

from __future__ import annotations

import click


@click.command()
def demo() -> None:
    """Materialize the demo asset graph on the embedded defaults (SQLite, local files)."""
    from lume_assets.demo.run import run_demo

    report = run_demo()
    status = "succeeded" if report.success else "FAILED"
    click.echo(f"demo runs {', '.join(report.run_ids)} {status}: {', '.join(report.assets)}")
    for check, passed in report.checks.items():
        click.echo(f"check {check}: {'passed' if passed else 'FAILED'}")
    click.echo(f"result files:  {report.files_root}")
    for key, path in report.files.items():
        click.echo(f"  {key:<28} {path}")
    click.echo(f"result store:  {report.results_url}")
    click.echo(f"registry:      {report.registry_url}")
    click.echo(f"dagster home:  {report.dagster_home}")
    click.echo("query the results:")
    click.echo("  from lume_assets.storage.result_stores import open_result_store")
    click.echo(f"  store = open_result_store({report.results_url!r})")
    click.echo('  store.find("beam_envelope", {"outputs.max_sigma": {"$lt": 3.0}})')
    click.echo("  import h5py; h5py.File(<path above>)['value'][()]")
    click.echo("  from lume_assets.models.registry import ModelRegistry")
    click.echo(f"  ModelRegistry({report.registry_url!r}).list_deployments()")
    click.echo("or browse them:  lume-assets dev")
    if not report.success:
        raise SystemExit(1)
