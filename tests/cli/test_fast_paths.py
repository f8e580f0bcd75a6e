"""Fast paths: what a command loads, and what a cache hit does not redo.

Timings are in bench/cli_bench.py; these tests check the mechanisms the figures rest on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from lume_assets.cli import cli
from lume_assets.client import LumeClient
from lume_assets.commands.common import show
from lume_assets.settings import get_settings
from tests.dagit_server import lume_assets_exe, project_env, runs_in

LIST_MODELS = """
import sys
from lume_assets.cli import main
sys.argv = ["lume-assets", "models", "list", "--json"]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
"""


RUN_HIT = """
import sys
from lume_assets.cli import main
sys.argv = ["lume-assets", "run", "beam_envelope", "-i", "k_f=2.27"]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
"""


def loaded_modules(env: dict[str, str], code: str) -> tuple[list[str], str]:
    """Run `code` in a fresh interpreter; return (heavy modules it imported, its stdout)."""
    prelude = "import json\nHEAVY = {'dagster', 'kubernetes', 'docker', 'matplotlib', 'pandas'}\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    *out, last = done.stdout.strip().splitlines()
    return json.loads(last), "\n".join(out)


def test_models_list_uses_the_snapshot_and_imports_no_dagster(tmp_path: Path) -> None:
    (tmp_path / "lume").mkdir()
    (tmp_path / "dagster").mkdir()
    env = project_env(tmp_path / "lume", tmp_path / "dagster")
    first, out = loaded_modules(env, LIST_MODELS)  # builds the definitions once
    assert "dagster" in first
    names = [m["name"] for m in json.loads(out)]
    assert "beam_envelope" in names
    again, out_again = loaded_modules(env, LIST_MODELS)
    assert again == [], again  # no Dagster, Kubernetes, Docker, matplotlib or pandas
    assert json.loads(out_again) == json.loads(out)
    assert not (tmp_path / "dagster" / "history").exists()  # the instance was never opened
    # a new YAML graph changes what is served: the snapshot is not reused
    graphs = tmp_path / "graphs"
    graphs.mkdir()
    (graphs / "solo.yaml").write_text(
        "name: solo\nnodes:\n  - name: only\n    model: beam_envelope\n"
    )
    changed, _ = loaded_modules({**env, "LUME_GRAPHS_DIR": str(graphs)}, LIST_MODELS)
    assert "dagster" in changed


def test_run_answers_a_cache_hit_from_the_store_without_dagster(tmp_path: Path) -> None:
    (tmp_path / "lume").mkdir()
    (tmp_path / "dagster").mkdir()
    env = project_env(tmp_path / "lume", tmp_path / "dagster")
    miss = subprocess.run(
        [lume_assets_exe(), "run", "beam_envelope", "-i", "k_f=2.27", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert miss.returncode == 0, miss.stderr[-2000:]
    ran = json.loads(miss.stdout)  # a miss runs the model in a Dagster run
    assert ran["cache_hit"] is False and ran["run_id"] == ran["provenance"]["run_id"]
    assert runs_in(env) == 1
    snapshot = json.loads(next((tmp_path / "lume" / "cache").glob("models-*.json")).read_text())
    assert "beam_envelope" in snapshot["cache_hits"]
    assert "envelope_analysis" not in snapshot["cache_hits"]  # a graph node: always a run
    modules, out = loaded_modules(env, RUN_HIT)
    assert modules == [], modules  # no Dagster (nor Kubernetes, Docker, matplotlib, pandas)
    assert runs_in(env) == 1  # no new run
    created = datetime.fromisoformat(ran["created"])
    assert out.splitlines()[0] == (
        f"cache hit: the result of run {ran['run_id']} ({created:%Y-%m-%d %H:%M:%S} UTC) from "
        "the result store; no new run was started (--record-run starts one)"
    )
    assert f"inputs hash: {ran['inputs_hash']}" in out
    assert f"max_sigma          {show(ran['outputs']['max_sigma'])}" in out
    for name, record in ran["provenance"]["files"].items():
        assert f"  {name}: {record['host_path']} (sha256 {record['sha256'][:16]})" in out


def test_definitions_import_no_kubernetes_or_workspace_machinery(tmp_path: Path) -> None:
    env = project_env(tmp_path, tmp_path)
    code = (
        "import lume_assets.demo.definitions\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(("
        "'kubernetes', 'docker', 'matplotlib', 'dagster._core.workspace.context')))))"
    )
    found, _ = loaded_modules(env, "import sys\n" + code)
    assert found == [], found


def test_cache_hit_points_at_the_stored_plot_without_rendering(module_home: Path) -> None:
    with LumeClient() as client:
        first = client.run("beam_envelope", {"k_f": 2.31})
        meta = client.backend.materialization_metadata(
            first.provenance.run_id, "beam_envelope/result"
        )
        plot = Path(str(meta["plot_path"]))
        stamp = plot.stat().st_mtime_ns
        run_id = client.submit("beam_envelope", {"k_f": 2.31})
        client.wait(run_id)
        hit = client.backend.materialization_metadata(run_id, "beam_envelope/result")
    assert hit["cache_hit"] is True and Path(str(hit["plot_path"])) == plot
    assert plot.stat().st_mtime_ns == stamp  # not rendered or written again
    assert plot.name == f"{first.inputs_hash[:16]}.png" and plot.read_bytes()[:4] == b"\x89PNG"
    # no image in the event log: a short link Dagit resolves to the same file (plot_links)
    assert hit["plot"] == meta["plot"] and len(hit["plot"]) < 200


GATED_MODELS = """
import lume_assets as la


def square(x: float) -> dict:
    return {"y": x * x}


GATED = la.ModelSpec(
    name="gated_square",
    version="1",
    inputs=[la.ScalarVariable(name="x", default=1.0)],
    outputs=[la.ScalarVariable(name="y")],
    function=square,
)
"""
GATED_DEFS = """
import dagster as dg

import lume_assets as la
from gated_loc.models import GATED
from lume_assets.serving import serve

serve([GATED])
defs = dg.Definitions(
    assets=[la.model_asset(GATED, requires_approval=True)], resources=la.resources()
)
"""


def test_results_held_or_rejected_at_a_gate_are_not_answered_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run decides about held results (it holds them again); published ones are hits."""
    project = tmp_path / "project"
    (project / "gated_loc").mkdir(parents=True)
    (project / "gated_loc" / "__init__.py").write_text("")
    (project / "gated_loc" / "models.py").write_text(GATED_MODELS)
    (project / "gated_loc" / "definitions.py").write_text(GATED_DEFS)
    (project / "pyproject.toml").write_text(
        '[tool.dagster]\nmodule_name = "gated_loc.definitions"\ncode_location_name = "gated"\n'
    )
    for var in [k for k in os.environ if k.startswith("LUME_") and not k.startswith("LUME_TEST")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("LUME_HOME", str(tmp_path / "lume"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.chdir(project)
    get_settings.cache_clear()
    home = {"DAGSTER_HOME": str(tmp_path / "dagster")}
    try:
        with LumeClient() as client:
            held = client.run("gated_square", {"x": 3.0})  # held at the gate, unpublished
        assert held.published is False
        with LumeClient() as client:
            assert client.stored_hit("gated_square", {"x": 3.0}) is None
        before = runs_in(home)
        again = CliRunner().invoke(cli, ["run", "gated_square", "-i", "x=3"])
        assert again.exit_code == 0, again.output
        assert " succeeded (cache hit" in again.stdout and runs_in(home) == before + 1
        with LumeClient() as client:
            client.approve(held.provenance.run_id, reject=True, reason="beam lost")
            assert client.stored_hit("gated_square", {"x": 3.0}) is None  # rejected: unpublished
            other = client.run("gated_square", {"x": 4.0})
            client.approve(other.provenance.run_id)  # published: now a hit without a run
        before = runs_in(home)
        hit = CliRunner().invoke(cli, ["run", "gated_square", "-i", "x=4"])
        assert hit.exit_code == 0, hit.output
        assert hit.stdout.startswith(f"cache hit: the result of run {other.provenance.run_id} (")
        assert runs_in(home) == before
    finally:
        get_settings.cache_clear()


def test_the_console_script_walks_the_old_generation_rarely(monkeypatch):
    """`lume-assets` (cli.entry) runs its command with the CLI's GC thresholds."""
    import gc

    from lume_assets import cli

    seen = []
    monkeypatch.setattr(cli, "main", lambda: seen.append(gc.get_threshold()))
    monkeypatch.setattr(cli, "quick_exit", lambda code: seen.append(code))
    before = gc.get_threshold()
    try:
        cli.entry()
    finally:
        gc.set_threshold(*before)
    assert seen == [cli.GC_THRESHOLDS, 0]
    assert cli.GC_THRESHOLDS[0] > before[0]
