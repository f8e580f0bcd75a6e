"""The `lume-assets` command line."""

from __future__ import annotations

import sys

import click

from lume_assets.errors import LumeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lume_assets")
def cli() -> None:
    """lume_assets: scientific models and their results as Dagster assets."""


@cli.command()
def demo() -> None:
    """Materialize the demo asset graph on the embedded defaults (SQLite, local files)."""
    from lume_assets.demo.run import run_demo

    report = run_demo()
    status = "succeeded" if report.success else "FAILED"
    click.echo(f"demo run {report.run_id} {status}: {', '.join(report.assets)}")
    click.echo(f"result files:  {report.files_root}")
    for asset, path in report.files.items():
        click.echo(f"  {asset}: {path}")
    click.echo(f"dagster home:  {report.dagster_home}")
    if not report.success:
        raise SystemExit(1)


def main() -> None:
    """Entry point: run the CLI, turning LumeErrors into a one-line message and exit code 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(1)
    except LumeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
