"""`lume-assets dev`: start `dagster dev` (webserver + daemon) on this project."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import click

#: The code location `dagster dev` loads.
DEFINITIONS_MODULE = "lume_assets.definitions"


def dev_command(host: str, port: int) -> list[str]:
    """The `dagster dev` command line for this project's code location."""
    dagster = Path(sys.executable).with_name("dagster")
    exe = [str(dagster)] if dagster.exists() else [shutil.which("dagster") or "dagster"]
    return [*exe, "dev", "-m", DEFINITIONS_MODULE, "-h", host, "-p", str(port)]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to serve on.")
@click.option(
    "--port",
    "-p",
    type=click.IntRange(1, 65535),
    default=3000,
    show_default=True,
    envvar="LUME_DAGIT_PORT",
    help="Webserver port (env LUME_DAGIT_PORT).",
)
@click.option("--dry-run", is_flag=True, help="Print the command and DAGSTER_HOME, start nothing.")
def dev(host: str, port: int, dry_run: bool) -> None:
    """Start Dagit (dagster dev: webserver + daemon) on this project, DAGSTER_HOME set."""
    from lume_assets.deploy.instance import ensure_dagster_home, prepare_instance

    home = ensure_dagster_home()
    command = dev_command(host, port)
    click.echo(f"DAGSTER_HOME={home}")
    click.echo(shlex.join(command))
    if dry_run:
        return
    prepare_instance()  # storage created before the webserver and daemon open it together
    click.echo(f"Dagit: http://{host}:{port}  (Ctrl-C stops it)")
    sys.stdout.flush()
    os.execvpe(command[0], command, {**os.environ, "DAGSTER_HOME": str(home)})
