"""The code location: one name everywhere, no side effects on import, the demo kept apart,
graph files that are broken or name anything but a ModelSpec."""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster.components.core.component_tree import ComponentTree

import lume_assets as la
from lume_assets.assets.graph_assets import load_asset_graph
from lume_assets.assets.graph_loader import load_graph, load_graph_text
from lume_assets.demo import example_graph
from lume_assets.location import lume_cause
from tests.dagit_server import ROOT, DagitServer, graphql
from tests.project.helpers import env_for, lume

PACKAGE = ROOT / "lume_assets"


def test_importing_the_location_writes_no_database(tmp_path: Path) -> None:
    env = env_for(tmp_path / "lume_home", tmp_path / "dagster_home")
    (tmp_path / "lume_home").mkdir()
    (tmp_path / "dagster_home").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", "import lume_assets.demo.definitions as d; print(len(d.MODELS))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((tmp_path / "lume_home").iterdir()) == []  # no registry.db, no results.db
    assert list((tmp_path / "dagster_home").iterdir()) == []


def test_import_lume_assets_is_cheap_and_exposes_the_public_api() -> None:
    probe = "import sys, lume_assets; print('dagster' in sys.modules, 'numpy' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.stdout.split() == ["False", "False"], done.stderr
    for name in ("ModelSpec", "ScalarVariable", "ArrayVariable", "TextVariable", "model_asset"):
        assert getattr(la, name) is not None
    assert la.load_asset_graph is load_asset_graph
    assert issubclass(la.GraphSpecError, la.LumeError)
    assert callable(la.resources) and callable(la.definitions) and la.LumeClient
    assert "ModelGraph" in dir(la)
    with pytest.raises(AttributeError):
        la.no_such_name  # noqa: B018


def test_la_definitions_serves_models_and_graphs(lume_home: Path) -> None:
    from lume_assets.demo.focus_model import FOCUS

    defs = la.definitions(models=[FOCUS], graphs=[example_graph("beam_chain")])
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"focus/result", "beam_chain/sim/beam_envelope/sim_result"} <= keys
    assert defs.resolve_job_def("beam_chain_job")
    assert set(la.resources()) <= set(defs.resources)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[dg.AssetKey(["focus", "result"])], instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success


def test_product_modules_import_nothing_from_the_demo() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "demo" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                if node.module == "lume_assets":
                    names += [f"lume_assets.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if node.value.startswith("lume_assets.demo") else []
            offenders += [f"{path}: {n}" for n in names if n.startswith("lume_assets.demo")]
        text = path.read_text()
        if "lume_assets.demo" in text or "from lume_assets import demo" in text:
            offenders.append(f"{path}: mentions lume_assets.demo")
    assert offenders == []


def test_the_example_graphs_load_as_components_with_the_same_keys_and_jobs(
    lume_home: Path,
) -> None:
    from lume_assets.demo.definitions import component_definitions

    components = dg.Definitions.merge(
        component_definitions(), dg.Definitions(resources=la.resources())
    )
    for name in ("beam_chain", "envelope_pipeline"):
        graph = load_asset_graph(example_graph(name))  # the Python loader on the same file
        expected = {k for a in graph.assets for k in a.keys}
        got = {k for k in components.resolve_all_asset_keys() if k.path[0] == name}
        assert got == expected
        job = components.resolve_job_def(f"{name}_job")
        assert {n.name for n in job.nodes} == {graph.op_name(n.name) for n in graph.graph.nodes}


def test_a_broken_defs_yaml_gives_the_loaders_file_line_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "broken_defs"
    (package / "chain").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    text = example_graph("beam_chain").read_text()
    text = text.replace("sigma_y: {node: sim, output: sigma_y}", "sigma_y: sim.sigma_yy")
    text = text.replace("aperture: 20.0", "aperture: -3\n        apperture: 1")
    defs_yaml = package / "chain" / "defs.yaml"
    defs_yaml.write_text(text)
    with pytest.raises(la.GraphSpecError) as direct:
        load_graph(defs_yaml)
    monkeypatch.syspath_prepend(str(tmp_path))
    tree = ComponentTree.from_module(
        defs_module=importlib.import_module("broken_defs"), project_root=tmp_path
    )
    with pytest.raises(Exception) as through_dagster:  # noqa: B017 - Dagster wraps ours
        tree.build_defs()
    ours = lume_cause(through_dagster.value)
    assert isinstance(ours, la.GraphSpecError)
    assert str(ours) == str(direct.value)
    message = str(ours)
    assert f"invalid asset graph {defs_yaml} (3 problems):" in message
    assert f"{defs_yaml}:19: node 'analysis': fixed input 'aperture' = -3" in message
    assert f"{defs_yaml}:20: node 'analysis': model 'envelope_analysis' has no input" in message
    assert f"{defs_yaml}:24: node 'analysis': map 'sigma_y'" in message
    assert "has no output 'sigma_yy'; did you mean 'sigma_y'?" in message


@pytest.mark.parametrize("form", ["plain", "component"])
def test_a_graph_naming_sys_exit_or_os_abort_is_refused_and_nothing_is_called(
    monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(sys, "exit", lambda *a: calls.append("exit"))
    monkeypatch.setattr(os, "abort", lambda *a: calls.append("abort"))
    graph = "name: g\nnodes:\n  - {name: a, model: 'sys:exit'}\n  - {name: b, model: 'os:abort'}\n"
    if form == "component":
        graph = "type: lume_assets.ModelGraph\nattributes:\n" + "".join(
            f"  {line}\n" for line in graph.splitlines()
        )
    with pytest.raises(la.GraphSpecError) as info:
        load_graph_text(graph, "g.yaml")
    assert calls == []
    first = 3 if form == "plain" else 5
    message = str(info.value)
    assert f"g.yaml:{first}: node 'a': 'sys:exit' is a callable" in message
    assert f"g.yaml:{first + 1}: node 'b': 'os:abort' is a callable" in message
    assert "not a ModelSpec" in message


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """An environment whose LUME_GRAPHS_DIR holds a broken graph file."""
    base = tmp_path_factory.mktemp("broken")
    graphs = base / "graphs"
    graphs.mkdir()
    (graphs / "broken.yaml").write_text(
        "name: broken\nnodes:\n  - name: sim\n    model: beam_envelop\n"
    )
    env = env_for(base / "lume_home", base / "dagster_home")
    env["LUME_GRAPHS_DIR"] = str(graphs)
    return env, graphs / "broken.yaml"


def test_a_broken_graph_file_stops_only_what_needs_the_location(
    broken: tuple[dict[str, str], Path],
) -> None:
    env, path = broken
    where = f"{path}:4: node 'sim': model 'beam_envelop' is not in the model catalogue"
    listed = lume(env, ROOT, "models", "list")
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert where in listed.stderr and listed.stderr.startswith("warning: code location")
    assert "beam_envelope" in listed.stdout and "entry point (lume_assets)" in listed.stdout
    ran = lume(env, ROOT, "run", "beam_envelope", "-i", "k_f=2.2", "--json")
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert where in ran.stderr
    assert json.loads(ran.stdout)["inputs"]["k_f"] == 2.2
    for args in (["results", "beam_envelope"], ["approvals"]):
        done = lume(env, ROOT, *args)
        assert done.returncode == 0, (args, done.stderr[-3000:])
    assert "1 result(s)" in lume(env, ROOT, "results", "beam_envelope").stdout
    graph_run = lume(env, ROOT, "run-graph", "beam_chain")
    assert graph_run.returncode == 2
    (line,) = graph_run.stderr.strip().splitlines()
    assert where in line and "did you mean 'beam_envelope'?" in line


def test_launch_a_graph_job_against_lume_assets_dev(dagit: DagitServer, tmp_path: Path) -> None:
    """`launch` in a folder without workspace.yaml names the location as `dev` serves it."""
    env = env_for(dagit.lume_home, dagit.dagster_home)
    launched = lume(env, tmp_path, "launch", "--job", "beam_chain_job", "--wait")
    assert launched.returncode == 0, launched.stderr[-3000:]
    (run_id,) = re.findall(r"^run (\S+) SUCCESS$", launched.stdout, flags=re.M)
    served = yaml.safe_load((dagit.dagster_home / "workspace-lume_assets.yaml").read_text())
    shipped = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    names = {
        served["load_from"][0]["python_module"]["location_name"],
        shipped["load_from"][0]["python_module"]["location_name"],
    }
    assert names == {"lume_assets"}
    data = graphql(
        dagit.url,
        """query($runId: ID!) {
          runOrError(runId: $runId) {
            ... on Run { status jobName repositoryOrigin { repositoryLocationName } }
          }
          workspaceOrError { ... on Workspace { locationEntries { name } } }
        }""",
        {"runId": run_id},
    )
    run = data["runOrError"]
    assert (run["status"], run["jobName"]) == ("SUCCESS", "beam_chain_job")
    assert run["repositoryOrigin"]["repositoryLocationName"] == "lume_assets"
    assert [e["name"] for e in data["workspaceOrError"]["locationEntries"]] == ["lume_assets"]
