"""YAML graphs as Dagster assets: both shipped examples materialize with the real IO managers and
every downstream input equals the upstream output it maps (arrays bit-exact, read back from the
HDF5 files and the result store); dependencies, groups, config, overrides, partitions."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import h5py
import numpy as np
import pytest
import yaml

from lume_assets.assets.graph_assets import AssetGraph, build_asset_graph, load_asset_graph
from lume_assets.assets.graph_loader import load_graph_text
from lume_assets.demo import example_graph
from lume_assets.deploy.placement import resources_from_tags
from lume_assets.errors import GraphSpecError
from tests.assets.graph_toys import PARTITIONED, toy_catalogue

ROOT = Path(__file__).resolve().parents[2]


def materialize(graph: AssetGraph, resources: dict, instance: Any, **kwargs: Any) -> Any:
    """Materialize every asset of the graph; return the run result and its materializations."""
    result = dg.materialize(graph.assets, resources=resources, instance=instance, **kwargs)
    assert result.success
    meta = {
        e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    return result, meta


def upstream_value(graph: AssetGraph, meta: dict, store: Any, node: str, output: str) -> Any:
    """An output as stored: arrays read from their HDF5 file with h5py, the rest from the store."""
    key = graph.key(node, output)
    if key != graph.result_key(node) and "path" in meta[key]:
        path = Path(str(meta[key]["path"].value))
        if path.suffix == ".h5":
            with h5py.File(path, "r") as f:
                return f["value"][()]
        return path.read_text().split("\n", 1)[1]  # after the provenance header line
    model = graph.graph.node(node).model
    [stored] = [r for r in store.find(model.name) if r.provenance.asset_key.startswith(graph.name)]
    return stored.outputs[output]


def stored_inputs(graph: AssetGraph, store: Any, node: str) -> dict[str, Any]:
    """The inputs a node's model was evaluated with, as recorded in its stored Result."""
    model = graph.graph.node(node).model
    prefix = "/".join(graph.result_key(node).path)
    [stored] = [r for r in store.find(model.name) if r.provenance.asset_key == prefix]
    return stored.inputs


def assert_mappings_hold(graph: AssetGraph, meta: dict, store: Any) -> int:
    """Every mapped input equals the (indexed) upstream output, arrays bit for bit."""
    checked = 0
    for node in graph.graph.nodes:
        inputs = stored_inputs(graph, store, node.name)
        for name, ref in node.mappings.items():
            expected = upstream_value(graph, meta, store, ref.node, ref.output)
            index = ref.index_tuple()
            if index is not None:
                expected = np.asarray(expected)[index]
            got = inputs[name]
            if isinstance(expected, np.ndarray) and expected.ndim:
                assert isinstance(got, np.ndarray), (node.name, name)
                assert got.dtype == expected.dtype and got.shape == expected.shape
                assert got.tobytes() == expected.tobytes(), (node.name, name)
            else:
                assert got == expected, (node.name, name, got, expected)
            checked += 1
    return checked


def test_beam_chain_materializes_with_mapped_values(resources, instance, store) -> None:
    graph = load_asset_graph(example_graph("beam_chain"))
    result, meta = materialize(graph, resources, instance)
    assert assert_mappings_hold(graph, meta, store) == 5
    inputs = stored_inputs(graph, store, "analysis")
    sigma_x = upstream_value(graph, meta, store, "sim", "sigma_x")
    assert inputs["final_sigma_x"] == sigma_x[-1]
    assert inputs["sigma_x"].dtype == np.float64 and inputs["s"].shape == sigma_x.shape
    # fixed inputs reached the models
    assert stored_inputs(graph, store, "sim")["k_f"] == 2.2
    analysis = result.output_for_node(graph.op_name("analysis"), "result")
    assert analysis.outputs["clearance"] == pytest.approx(20.0 - inputs["max_sigma"])
    report = Path(str(meta[graph.key("analysis", "report")]["path"].value)).read_text()
    assert f"final sigma_x {sigma_x[-1]:.4f} mm" in report
    assert all(c.passed for c in result.get_asset_check_evaluations())


def test_envelope_pipeline_materializes_with_mapped_values(resources, instance, store) -> None:
    graph = load_asset_graph(example_graph("envelope_pipeline"))
    result, meta = materialize(graph, resources, instance)
    assert assert_mappings_hold(graph, meta, store) == 7
    surrogate = stored_inputs(graph, store, "surrogate")
    assert surrogate["k_f"].shape == (85,)
    validation = result.output_for_node(graph.op_name("validation"), "result")
    assert validation.outputs["within_tolerance"] == 1.0
    assert validation.outputs["max_relative_error"] <= 0.05
    checks = {c.asset_key: c.passed for c in result.get_asset_check_evaluations()}
    assert checks[graph.result_key("validation")] is True


def test_fixed_inputs_are_config_defaults_and_can_be_overridden(resources, instance, store):
    graph = load_asset_graph(example_graph("beam_chain"))
    fields = graph.by_node["sim"].op.config_schema.as_field().config_type.fields
    assert fields["k_f"].default_value == 2.2 and fields["k_d"].default_value == -2.1
    analysis_fields = graph.by_node["analysis"].op.config_schema.as_field().config_type.fields
    assert "s" not in analysis_fields and "max_sigma" not in analysis_fields  # mapped
    assert analysis_fields["aperture"].default_value == 20.0
    run_config = {"ops": {graph.op_name("sim"): {"config": {"k_f": 2.3}}}}
    _, meta = materialize(graph, resources, instance, run_config=run_config)
    assert stored_inputs(graph, store, "sim")["k_f"] == 2.3
    assert_mappings_hold(graph, meta, store)


def test_per_node_overrides_reach_the_ops() -> None:
    pipeline = load_asset_graph(example_graph("envelope_pipeline"))
    placed = resources_from_tags(pipeline.by_node["scan"].op.tags)
    assert (placed.cpu, placed.memory) == ("1", "1Gi")
    assert pipeline.by_node["validation"].op.retry_policy.max_retries == 1
    assert pipeline.by_node["surrogate"].op.retry_policy is None
    chain = load_asset_graph(example_graph("beam_chain"))
    policy = chain.by_node["sim"].op.retry_policy
    assert (policy.max_retries, policy.backoff) == (3, dg.Backoff.LINEAR)


def test_dependencies_and_groups_in_the_definitions(lume_home: Path) -> None:
    from lume_assets.demo.definitions import build_definitions

    defs = build_definitions()
    asset_graph = defs.resolve_asset_graph()
    chain = load_asset_graph(example_graph("beam_chain"))
    analysis = chain.result_key("analysis")
    assert asset_graph.get(analysis).parent_keys == {
        chain.key("sim", "s"),
        chain.key("sim", "sigma_x"),
        chain.key("sim", "sigma_y"),
        chain.result_key("sim"),
    }
    for name in ("beam_chain", "envelope_pipeline"):
        keys = {
            k for k in asset_graph.get_all_asset_keys() if asset_graph.get(k).group_name == name
        }
        assert keys and all(k.path[0] == name for k in keys)
        # one connected component (edges followed both ways, through multi-asset siblings)
        seen, todo = set(), [next(iter(keys))]
        while todo:
            key = todo.pop()
            if key in seen:
                continue
            seen.add(key)
            node = asset_graph.get(key)
            siblings = set(node.execution_set_asset_keys)
            todo.extend((node.parent_keys | node.child_keys | siblings) & keys)
        assert seen == keys, f"{name} is not connected: {keys - seen}"
        # op-level edges are exactly the YAML mappings
        graph = load_asset_graph(example_graph(name))
        for node in graph.graph.nodes:
            parents = asset_graph.get(graph.result_key(node.name)).parent_keys
            assert {k.path[1] for k in parents} == {r.node for r in node.mappings.values()}


def test_partitioned_nodes(resources, instance, store) -> None:
    # two inputs from one result (a, b) and two from one HDF5 file (v3, m) share an op input each
    more = (
        'v: prod.vec, b: prod.value, v3: "prod.mat[0]", m: prod.mat, note: prod.label, '
        "deck: prod.path}"
    )
    text = PARTITIONED.replace("v: prod.vec}", more)
    graph = build_asset_graph(load_graph_text(text, "p.yaml", toy_catalogue()))
    assert graph.by_node["cons"].partitions_def == graph.by_node["prod"].partitions_def
    _, meta = materialize(graph, resources, instance, partition_key="2.5")
    assert stored_inputs(graph, store, "prod")["x"] == 2.5
    cons = stored_inputs(graph, store, "cons")
    assert cons["a"] == cons["b"] == 5.0 and cons["note"] == "x=2.5"
    assert assert_mappings_hold(graph, meta, store) == 7


def test_index_outside_a_runtime_array_fails_cleanly(resources, instance) -> None:
    text = (
        "name: g\nnodes:\n  - {name: p, model: producer}\n"
        "  - {name: r, model: relay, map: {a: 'p.vec[10]'}}\n"
    )
    graph = build_asset_graph(load_graph_text(text, "i.yaml", toy_catalogue()))
    result = dg.materialize(
        graph.assets, resources=resources, instance=instance, raise_on_error=False
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    description = failure.step_failure_data.user_failure_data.description
    assert (
        "input 'a' of 'relay': index (10,) does not fit the upstream value of shape (7,)"
        in description
    )


def test_model_refused_by_model_asset_is_a_graph_spec_error() -> None:
    from lume_assets.models.model import ModelSpec
    from lume_assets.models.variables import ScalarVariable

    reserved = ModelSpec(
        name="reserved",
        version="1",
        inputs=[ScalarVariable(name="force", default=1.0)],
        outputs=[ScalarVariable(name="y")],
        function=lambda force: {"y": force},
    )
    catalogue = toy_catalogue()
    catalogue.register(reserved)
    graph = load_graph_text(
        "name: g\nnodes:\n  - {name: n, model: reserved}\n", "r.yaml", catalogue
    )
    with pytest.raises(GraphSpecError, match=r"r\.yaml:3: node 'n': cannot build its assets"):
        build_asset_graph(graph)


def _validate(env_graphs_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run `dagster definitions validate -w workspace.yaml` with LUME_GRAPHS_DIR set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUME_")}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(
        LUME_HOME=str(home),
        DAGSTER_HOME=str(home),
        LUME_GRAPHS_DIR=str(env_graphs_dir),
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_dagster_definitions_validate_with_yaml_graphs(tmp_path: Path) -> None:
    graphs = tmp_path / "graphs"
    graphs.mkdir()
    (graphs / "extra.yml").write_text(
        "name: extra_chain\nnodes:\n  - {name: sim, model: beam_envelope}\n"
        "  - name: post\n    model: envelope_analysis\n"
        "    map: {s: sim.s, sigma_x: sim.sigma_x, sigma_y: sim.sigma_y,\n"
        "          max_sigma: sim.max_sigma, final_sigma_x: 'sim.sigma_x[-1]'}\n"
    )
    ok = _validate(graphs, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "All code locations passed validation" in ok.stdout + ok.stderr

    (graphs / "broken.yaml").write_text(
        "name: broken\nnodes:\n  - {name: sim, model: beam_envelop}\n"
    )
    bad = _validate(graphs, tmp_path)
    assert bad.returncode != 0
    output = bad.stdout + bad.stderr
    assert "broken.yaml:3: node 'sim': model 'beam_envelop' is not in the model catalogue" in output
    assert "did you mean 'beam_envelope'?" in output


def test_each_graph_has_a_job(lume_home: Path) -> None:
    from lume_assets.demo.definitions import build_definitions

    defs = build_definitions()
    job = defs.resolve_job_def("beam_chain_job")
    chain = load_asset_graph(example_graph("beam_chain"))
    assert {n.name for n in job.nodes} == {chain.op_name("sim"), chain.op_name("analysis")}
    pipeline = defs.resolve_job_def("envelope_pipeline_job")
    assert len(pipeline.nodes) == 3
    # each node's result asset links the job's launchpad on YAML Dagster validates as written:
    # the nodes in graph order, each with its config inputs in declared order (commented)
    description = chain.by_node["analysis"].specs_by_key[chain.result_key("analysis")].description
    link = re.search(r"\]\((/guess/beam_chain_job/playground/setup\?[^)]+)\)", description or "")
    assert link is not None, description
    text = parse_qs(urlsplit(link.group(1)).query)["config"][0]
    config = yaml.safe_load(text)
    sim, analysis = chain.op_name("sim"), chain.op_name("analysis")
    assert list(config["ops"]) == [sim, analysis]
    assert list(config["ops"][sim]["config"])[:3] == ["k_f", "k_d", "quad_length"]
    assert config["ops"][sim]["config"]["k_f"] == 2.2  # the graph's fixed input
    assert list(config["ops"][analysis]["config"]) == ["aperture", "force"]  # the rest mapped
    assert "# [1/m^2] focusing quad strength; allowed: [0, 10] 1/m^2" in text
    assert dg.validate_run_config(job, config)["ops"][sim]["config"]["k_d"] == -2.1


def test_a_graphs_schedules_are_registered_and_run_its_job(
    lume_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from lume_assets.demo.definitions import build_definitions
    from lume_assets.settings import get_settings

    graphs = lume_home / "graphs"
    graphs.mkdir()
    text = example_graph("beam_chain").read_text().replace("name: beam_chain", "name: night")
    assert "name: night" in text
    schedule = '{name: nightly_night, cron: "0 2 * * *", timezone: Europe/Berlin}'
    text += f"\n  schedules:\n    - {schedule}\n"  # under the component's attributes
    (graphs / "night.yaml").write_text(text)
    monkeypatch.setenv("LUME_GRAPHS_DIR", str(graphs))
    get_settings.cache_clear()

    defs = build_definitions()
    schedule = defs.resolve_schedule_def("nightly_night")
    assert schedule.execution_timezone == "Europe/Berlin"
    assert schedule.job_name == "night_job"
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 7, 1, 0, 0, tzinfo=UTC),
            repository_def=defs.get_repository_def(),
        ) as context,
    ):
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.run_key.startswith("nightly_night:2026-07-01T02:00:00+02:00")


def test_graph_asset_names_carry_the_node() -> None:
    """Dagit's lineage card shows a key's last part: each node's assets are `<node>_<output>`."""
    chain = load_asset_graph(example_graph("beam_chain"))
    assert chain.result_key("sim").path == ["beam_chain", "sim", "beam_envelope", "sim_result"]
    assert chain.key("sim", "sigma_x").path[-1] == "sim_sigma_x"
    assert chain.key("sim", "max_sigma") == chain.result_key("sim")  # scalars: the record
    names = {key.path[-1] for asset in chain.assets for key in asset.keys}
    assert {"sim_result", "sim_sigma_x", "analysis_result", "analysis_report"} <= names
    assert not names & {"result", "sigma_x", "report"}
