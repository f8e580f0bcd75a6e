"""The `lume-assets` command line."""

from __future__ import annotations

import gc
import os
import sys
import warnings

import click

from lume_assets.commands.common import remote_option
from lume_assets.errors import ApprovalError, ClientError, LumeError, RunFailedError


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split())


class LumeGroup(click.Group):
    """Click group whose commands report lume_assets errors as one line and an exit code.

    A failed run exits 1; any other LumeError (bad input, unknown model, unreachable server)
    exits 2, like click's usage errors — the same under `main()` and click's CliRunner.
    """

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; turn RunFailedError into exit 1 and other LumeErrors into exit 2."""
        try:
            return super().invoke(ctx)
        except RunFailedError as exc:
            click.echo(f"run failed: {one_line(exc)}", err=True)
            ctx.exit(1)
        except LumeError as exc:
            click.echo(f"error: {one_line(exc)}", err=True)
            ctx.exit(2)


@click.group(cls=LumeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lume_assets")
@click.option("--debug", is_flag=True, help="Show Dagster's logs and stack traces of failing runs.")
def cli(debug: bool) -> None:
    """lume_assets: scientific models and their results as Dagster assets."""
    if debug:
        os.environ["LUME_DEBUG"] = "1"


def quiet_warnings() -> None:
    """Silence Dagster's beta/preview notices about its own APIs (not the user's business)."""
    warnings.filterwarnings("ignore", message=r"(?s).*is currently in (beta|preview)")
    warnings.filterwarnings("ignore", message=r"(?s).*(is deprecated|will be removed)")


quiet_warnings()  # before any command imports Dagster (filters by message: no import here)


def _decide_cli(
    target: str,
    decision: str,
    by: str | None,
    reason: str,
    every: bool,
    remote: str | None = None,
    override: bool = False,
) -> None:
    """Shared body of `approve` and `reject`: decide, publish on approval, print the outcome."""
    import getpass

    number = target.lstrip("#")
    if number.isdigit() and len(number) > 18:
        raise ApprovalError(f"No approval {target[:20]}...: approval ids have at most 18 digits.")

    if remote:  # the server's approval job decides, in the server's stores
        from lume_assets.client import LumeClient

        decided = LumeClient(remote).approve(
            target, by=by, reject=decision == "reject", reason=reason, all_pending=every
        )
        for info in decided:
            published = f", {info.results} result(s) published" if decision == "approve" else ""
            why = f": {info.reason}" if info.reason else ""
            click.echo(
                f"#{info.id} {info.gate} run {info.run_id[:8]} {info.status} by "
                f"{info.decided_by} at {info.decided_at}{why}{published}"
            )
        return

    from lume_assets.automation.approval import (
        ApprovalStore,
        decide,
        settings_result_store,
        store_publisher,
    )

    approvals = ApprovalStore()
    publish = store_publisher(settings_result_store()) if decision == "approve" else None
    done = decide(
        approvals,
        target,
        decision,
        by or getpass.getuser(),
        reason=reason,
        publish=publish,
        every=every,
        override=override,
    )
    for approval in done:
        click.echo(approval.describe())  # says what was published, kept or refused


@cli.command()
@click.argument("target")
@click.option("--by", help="Who approves (default: your login name).")
@click.option("--all", "every", is_flag=True, help="Approve every pending run at this gate.")
@click.option(
    "--override", is_flag=True, help="Also publish results another gate rejected (a new decision)."
)
@remote_option
def approve(target: str, by: str | None, every: bool, override: bool, remote: str | None) -> None:
    """Approve the held results of TARGET (a run id, a gated asset, or #approval-id)."""
    _decide_cli(target, "approve", by, "", every, remote, override)


@cli.command()
@click.argument("target")
@click.option("--reason", required=True, help="Why the results are rejected.")
@click.option("--by", help="Who rejects (default: your login name).")
@click.option("--all", "every", is_flag=True, help="Reject every pending run at this gate.")
@remote_option
def reject(target: str, reason: str, by: str | None, every: bool, remote: str | None) -> None:
    """Reject the held results of TARGET; they stay unpublished and the reason is recorded."""
    _decide_cli(target, "reject", by, reason, every, remote)


@cli.command()
@click.option(
    "--status", type=click.Choice(["pending", "approved", "rejected"]), help="Only this status."
)
@click.option("--gate", help="Only this gate (asset key).")
def approvals(status: str | None, gate: str | None) -> None:
    """List approval gates crossed by runs, oldest first."""
    from lume_assets.automation.approval import ApprovalStore

    found = ApprovalStore().list(gate=gate, status=status)
    for approval in found:
        click.echo(approval.describe())
    if not found:
        click.echo("no approvals")


@cli.command()
@click.option("--job", "job_name", default="demo_job", show_default=True, help="Job to launch.")
@click.option(
    "-w",
    "--workspace",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="Workspace file naming the code location (default: ./workspace.yaml if present, else "
    "this folder's location as `lume-assets dev` serves it).",
)
@click.option("--location", default=None, help="Code location (if the workspace has several).")
@click.option("--wait/--no-wait", default=False, help="Wait until the run finishes.")
@click.option("--timeout", default=1800.0, show_default=True, help="Seconds to wait with --wait.")
def launch(
    job_name: str, workspace: str | None, location: str | None, wait: bool, timeout: float
) -> None:
    """Launch a job through this instance's run coordinator and launcher (dagster.yaml).

    On the Docker stack: `docker compose exec daemon lume-assets launch -w
    /opt/dagster/dagster_home/workspace.yaml --wait`.
    """

    from lume_assets.commands.location import default_workspace
    from lume_assets.deploy.instance import open_instance
    from lume_assets.deploy.launch import launch_job

    workspace = workspace or str(default_workspace())
    with open_instance() as instance:
        if wait:
            click.echo(f"launching {job_name} and waiting up to {timeout:.0f} s ...")
        run_id = launch_job(
            instance,
            workspace,
            job_name,
            location=location,
            wait_timeout=timeout if wait else None,
        )
        status = instance.get_run_by_id(run_id).status.value
    click.echo(f"run {run_id} {status}")


def _register_commands() -> None:
    """Add the commands that live in lume_assets.commands."""
    from lume_assets.commands.dev import dev
    from lume_assets.commands.graphs import run_graph
    from lume_assets.commands.init import init
    from lume_assets.commands.integrity import gc, rerun, verify
    from lume_assets.commands.models import models
    from lume_assets.commands.plot import plot
    from lume_assets.commands.plugins import add_plugin_commands
    from lume_assets.commands.results import results
    from lume_assets.commands.runs import run, status
    from lume_assets.commands.scan import scan

    for command in (dev, models, run, status, results, scan, plot, verify, gc, rerun):
        cli.add_command(command)
    for command in (init, run_graph):
        cli.add_command(command)
    add_plugin_commands(cli)


_register_commands()


def check_arguments(args: list[str]) -> None:
    """Refuse an argument holding bytes that are not UTF-8 (ClientError naming it, escaped)."""
    for number, arg in enumerate(args, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates
            raise ClientError(
                f"argument {number} {arg[:60]!r} is not valid UTF-8 text; "
                "give names, values and paths in UTF-8."
            ) from None


def main() -> None:
    """Entry point: run the CLI, turning LumeErrors into a one-line message and exit code 2."""
    try:
        check_arguments(sys.argv[1:])
        code = cli.main(standalone_mode=False)  # returns the exit code of ctx.exit(...)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # usage errors: one line, the fix in the message
        hint = ""
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            hint = f" (see: {ctx.command_path} --help)"
        click.echo(f"error: {one_line(exc.format_message())}{hint}", err=True)
        sys.exit(exc.exit_code if exc.exit_code else 2)
    except click.exceptions.Abort:
        sys.exit(1)
    except LumeError as exc:
        click.echo(f"error: {one_line(exc)}", err=True)
        sys.exit(2)


#: The cyclic garbage collector's thresholds in a `lume-assets` process (Python's: 700, 10, 10).
#: A command that runs Dagster builds ~500,000 long-lived objects while it imports and starts
#: (Dagster, the definitions, the instance); with Python's thresholds the oldest generation is
#: walked again and again: 0.5 s of GC in a 10,000-point `scan` of ~3 s (bench/RESULTS.md).
#: Young collections every 50,000 allocations and full ones ~100× rarer keep the cyclic garbage
#: of a process that lives for one command bounded (`dev` replaces itself with Dagster's).
GC_THRESHOLDS = (50_000, 20, 100)


def entry() -> None:
    """The `lume-assets` console script: `main()` with `GC_THRESHOLDS`, then a quick exit.

    A command that ran Dagster has loaded ~1,700 modules and ~200,000 objects; tearing the
    interpreter down costs a few tenths of a second after the output is complete. The exit
    handlers still run and the output is flushed; only that teardown is skipped, and only
    when no other non-daemon thread is alive and no profiler or tracer (`python -m cProfile`,
    coverage) waits to write its report. (`main()` itself returns or raises SystemExit, for
    callers in the same process.)
    """
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    quick_exit(code)


def quick_exit(code: object) -> None:
    """Leave the process with `code` without the interpreter's teardown (see `entry`)."""
    import atexit
    import threading

    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if code is None:
        code = 0
    traced = sys.getprofile() is not None or sys.gettrace() is not None  # cProfile, coverage
    if traced or not isinstance(code, int) or any(t.is_alive() and not t.daemon for t in others):
        sys.exit(code)  # a profiler to report, a message to print, threads to join: as usual
    atexit._run_exitfuncs()  # logging, multiprocessing and file-lock cleanup, as on any exit
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`) or a closed stream
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
