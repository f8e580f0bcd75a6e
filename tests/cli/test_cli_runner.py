"""Every `lume-assets` command through click's CliRunner, on the demo in a fresh home."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click
import dagster as dg
import pytest
import yaml
from click.testing import CliRunner, Result

from lume_assets.automation.approval import ApprovalStore
from lume_assets.cli import cli
from tests.dagit_server import DagitServer, runs_in


def invoke(*args: str) -> Result:
    """Run the CLI in-process."""
    return CliRunner().invoke(cli, list(args))


def walk(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the CLI."""
    out = []
    for name, command in group.commands.items():
        out.append((*prefix, name))
        if isinstance(command, click.Group):
            out.extend(walk(command, (*prefix, name)))
    return out


def test_help_on_every_command() -> None:
    paths = walk(cli)
    assert {("run",), ("results",), ("scan",), ("dev",), ("models", "show"), ("approve",)} <= set(
        paths
    )
    for path in paths:
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output and cli.commands[path[0]].get_short_help_str()


@pytest.fixture(scope="module")
def ran(module_home: Path) -> dict:
    """One CLI run of the beam model, as JSON."""
    result = invoke("run", "beam_envelope", "-i", "k_f=2.2", "--input", "k_d=-2.1", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_run_prints_the_result(ran: dict) -> None:
    assert ran["model"] == "beam_envelope" and ran["inputs"]["k_f"] == 2.2
    assert 0 < ran["outputs"]["max_sigma"] < 20 and len(ran["outputs"]["sigma_x"]) > 10
    # the same inputs again: answered from the result store, naming the run that stored it
    home = {"DAGSTER_HOME": os.environ["DAGSTER_HOME"]}
    before = runs_in(home)
    text = invoke("run", "beam_envelope", "-i", "k_f=2.2", "-i", "k_d=-2.1")
    assert text.exit_code == 0, text.output
    assert runs_in(home) == before  # no new run
    stored_by = ran["provenance"]["run_id"]
    assert re.search(rf"^cache hit: the result of run {stored_by} \(", text.stdout, re.M)
    assert "no new run was started" in text.stdout
    assert "max_sigma" in text.output and ran["inputs_hash"] in text.output
    # a file the run would write again (the plot is gone): not answered from the store
    plot = Path(ran["provenance"]["files"]["plot"]["host_path"])
    plot.unlink()
    rerun = invoke("run", "beam_envelope", "-i", "k_f=2.2", "-i", "k_d=-2.1")
    assert rerun.exit_code == 0, rerun.output
    assert re.search(r"^run [0-9a-f-]{36} succeeded \(cache hit", rerun.stdout, re.M)
    assert plot.is_file() and runs_in(home) == before + 1
    # --record-run: a Dagster run that records the hit as a materialization
    recorded = invoke("run", "beam_envelope", "-i", "k_f=2.2", "-i", "k_d=-2.1", "--record-run")
    assert recorded.exit_code == 0, recorded.output
    assert re.search(r"^run [0-9a-f-]{36} succeeded \(cache hit", recorded.stdout, re.M)
    assert stored_by not in recorded.stdout.splitlines()[0] and runs_in(home) == before + 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "beam_envelope", "-i", "k_f=50"], "'k_f' = 50 is outside its allowed range"),
        (["run", "beam_envelope", "-i", "k_f"], "'k_f' is not NAME=VALUE"),
        (["run", "no_such_model"], "No model 'no_such_model'"),
        (["results", "beam_envelope", "--where", "inputs.k_f>>2"], "is not PATH OP VALUE"),
        (["results", "beam_envelope", "--where", "inputs.k_f$where1"], "is not PATH OP VALUE"),
        (["results", "--where", "secret>1"], "Query path 'secret' is not queryable"),
        (["status", "no-such-run"], "No run 'no-such-run'"),
        (["scan", "envelope_scan", "-p", "7.77"], "no partition(s) ['7.77']"),
        (["scan", "envelope_scan", "--first", "9.99"], "--first '9.99' is not a partition"),
        (["scan", "no/such"], "No asset 'no/such'"),
        (["models", "show", "nope"], "No model 'nope'"),
        (["models", "register", "nocolon"], "model 'nocolon' is not in the model catalogue"),
        (["models", "register", "a:"], "is not MODULE:ATTRIBUTE"),
    ],
)
def test_bad_input_exits_2_with_one_line(module_home: Path, args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert message in lines[-1]
    assert "Traceback" not in result.output
    if not lines[-1].startswith("Error: Invalid value"):  # click usage errors add a hint line
        assert len(lines) == 1, lines


def test_failed_run_exits_1(module_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lume_assets.assets.model_assets import model_asset
    from lume_assets.client import LumeClient
    from lume_assets.commands import runs
    from lume_assets.models.model import ModelSpec
    from lume_assets.models.variables import ScalarVariable
    from lume_assets.serving import build_resources

    def diverges(k: float) -> dict:
        raise FloatingPointError(f"envelope diverges for k={k}")

    spec = ModelSpec(
        name="diverging",
        version="1",
        inputs=[ScalarVariable(name="k", default=1.0)],
        outputs=[ScalarVariable(name="y")],
        function=diverges,
    )
    defs = dg.Definitions(assets=[model_asset(spec)], resources=build_resources())
    # The CLI's own code path, on definitions holding a model that fails at run time.
    monkeypatch.setattr(
        runs,
        "make_client",
        lambda remote, results_url=None: LumeClient(definitions=defs, models=[spec]),
    )
    result = invoke("run", "diverging", "-i", "k=4")
    assert result.exit_code == 1, result.output
    assert "run failed:" in result.stderr and "envelope diverges for k=4" in result.stderr


def test_results_table_and_json(ran: dict) -> None:
    table = invoke("results", "beam_envelope", "--where", "inputs.k_f>=2.15", "-w", "inputs.k_d<-2")
    assert table.exit_code == 0, table.output
    head = table.output.splitlines()[0]
    assert head.split()[:3] == ["hash", "created", "k_f"] and "k_f [1/m^2]" in head
    assert "max_sigma [mm]" in head and "quad_length [m]" in head  # every input, with units
    assert ran["inputs_hash"][:12] in table.output and "1 result(s)" in table.output
    as_json = json.loads(invoke("results", "beam_envelope", "--json", "-n", "1").stdout)
    assert len(as_json) == 1 and as_json[0]["model"] == "beam_envelope"
    none = invoke("results", "beam_envelope", "--where", "inputs.k_f>9")
    assert none.exit_code == 0 and "no results" in none.output
    cols = invoke(
        "results", "beam_envelope", "-c", "inputs.k_d,outputs.max_sigma", "-s", "-inputs.k_d"
    )
    assert cols.output.splitlines()[0].split() == [
        "hash",
        "created",
        "k_d",
        "[1/m^2]",
        "max_sigma",
        "[mm]",
    ]


def test_status(ran: dict) -> None:
    run_id = ran["provenance"]["run_id"]
    text = invoke("status", run_id)
    assert text.exit_code == 0 and f"run {run_id}: SUCCESS" in text.output
    assert "materialized beam_envelope/result" in text.output
    info = json.loads(invoke("status", run_id, "--json", "--wait").stdout)
    assert info["status"] == "SUCCESS" and info["steps_done"] == 1


def test_models_list_show_register(module_home: Path) -> None:
    listed = invoke("models", "list")
    assert listed.exit_code == 0 and "beam_envelope" in listed.output and "1.0.0" in listed.output
    shown = invoke("models", "show", "beam_envelope")
    assert "k_f" in shown.output and "[0, 10] 1/m^2" in shown.output and "max_sigma" in shown.output
    as_json = json.loads(invoke("models", "show", "beam_envelope", "--json").stdout)
    assert as_json["owners"] == ["beam-physics@lume.example"]
    reg = invoke("models", "register", "lume_assets.demo.beam_model:BEAM_ENVELOPE", "--json")
    assert reg.exit_code == 0, reg.output
    (deployment,) = json.loads(reg.stdout)
    assert deployment["model_name"] == "beam_envelope" and deployment["version"] == "1.0.0"
    assert (module_home / "registry.db").exists()


def test_scan_backfills_partitions(module_home: Path) -> None:
    result = invoke("scan", "envelope_scan", "-p", "2.30", "-p", "2.40")
    assert result.exit_code == 0, result.output
    assert "succeeded: 2 partition(s) 2.30...2.40 of envelope_scan in 1 run(s)" in result.stdout
    assert "scan envelope_scan" in result.stderr  # the progress bar's label


def test_dev_dry_run_shows_the_dagster_dev_command(module_home: Path) -> None:
    result = invoke("dev", "--port", "3999", "--dry-run")
    assert result.exit_code == 0, result.output
    home = Path(os.environ["DAGSTER_HOME"])
    workspace = home / "workspace-lume_assets.yaml"
    assert f"dev -w {workspace} -h 127.0.0.1 -p 3999" in result.output
    assert "code location lume_assets: lume_assets.demo.definitions" in result.output
    assert f"DAGSTER_HOME={home}" in result.output
    # the location dev serves is the one workspace.yaml (and so `launch`) names
    served = yaml.safe_load(workspace.read_text())["load_from"][0]["python_module"]
    shipped = yaml.safe_load(Path("workspace.yaml").read_text())["load_from"][0]["python_module"]
    assert (served["location_name"], served["module_name"]) == (
        shipped["location_name"],
        shipped["module_name"],
    )


def test_reject_and_approve_on_a_remote_server(dagit: DagitServer, dagit_backfill: dict) -> None:
    """Decisions through the server's approve_results job (first Dagit user: starts the
    session's background backfill, see tests/conftest.py)."""
    approvals = ApprovalStore(f"sqlite:///{dagit.lume_home / 'registry.db'}")
    try:
        first = approvals.request("focus/grid", "cafe000000000001", results=[])
        approvals.request("focus/grid", "cafe000000000002", results=[])
    finally:
        approvals.dispose()
    remote = ["--remote", dagit.url]
    rejected = invoke("reject", f"#{first.id}", "--reason", "beam lost", "--by", "lin", *remote)
    assert rejected.exit_code == 0, rejected.output
    assert f"#{first.id} focus/grid run cafe0000 rejected by lin" in rejected.stdout
    assert rejected.stdout.rstrip().endswith(": beam lost")
    approved = invoke("approve", "cafe000000000002", "--by", "lin", *remote)
    assert approved.exit_code == 0, approved.output
    assert "approved by lin" in approved.stdout and "0 result(s) published" in approved.stdout
    again = invoke("approve", f"#{first.id}", "--by", "lin", *remote)
    assert again.exit_code == 2 and "was already rejected by lin" in again.stderr
