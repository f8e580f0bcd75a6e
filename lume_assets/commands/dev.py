"""`lume-assets dev`: start `dagster dev` (webserver + daemon) on this folder's code location."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import click


def dagster_executable() -> str:
    """The `dagster` command of this environment."""
    dagster = Path(sys.executable).with_name("dagster")
    return str(dagster) if dagster.exists() else shutil.which("dagster") or "dagster"


def dev_command(host: str, port: int, workspace: Path) -> list[str]:
    """The `dagster dev` command line serving the location in `workspace`."""
    return [dagster_executable(), "dev", "-w", str(workspace), "-h", host, "-p", str(port)]


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
    """Start Dagit (dagster dev: webserver + daemon) on this folder's code location.

    In a project folder (`lume-assets init`) it serves that project; elsewhere the demo. The
    location keeps one name (the project's) in `dev`, `launch` and workspace files.
    """
    from lume_assets.deploy.instance import ensure_dagster_home, prepare_instance
    from lume_assets.location import find_location, write_workspace

    home = ensure_dagster_home()
    location = find_location()
    workspace = write_workspace(location, home)
    command = dev_command(host, port, workspace)
    click.echo(f"DAGSTER_HOME={home}")
    click.echo(f"code location {location.name}: {location.module}")
    click.echo(shlex.join(command))
    if dry_run:
        return
    prepare_instance()  # storage created before the webserver and daemon open it together
    click.echo(f"Dagit: http://{host}:{port}  (Ctrl-C stops it)")
    sys.stdout.flush()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    extra = os.pathsep.join(str(p) for p in location.python_path())
    if extra:  # an uninstalled project still imports
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra, env.get("PYTHONPATH")) if p)
    os.execvpe(command[0], command, env)
