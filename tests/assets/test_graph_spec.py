"""YAML asset graphs: parsing with line numbers, validation against the models, and the message
of every kind of error (file, line, node, fix)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lume_assets.assets.graph_loader import (
    load_graph,
    load_graph_text,
    load_graphs,
)
from lume_assets.assets.graph_validation import indexed_shape
from lume_assets.demo import GRAPHS_DIR, example_graph
from lume_assets.demo.beam_model import BEAM_ENVELOPE
from lume_assets.errors import GraphSpecError
from tests.assets.graph_toys import PARTITIONED, toy_catalogue


def load(text: str) -> object:
    """Validate dedented YAML against the toy catalogue, as file 'g.yaml'."""
    return load_graph_text(textwrap.dedent(text), "g.yaml", toy_catalogue())


def error_of(text: str) -> str:
    """The GraphSpecError message of invalid YAML."""
    with pytest.raises(GraphSpecError) as info:
        load(text)
    return str(info.value)


def assert_all_in(message: str, *fragments: str) -> None:
    """Every fragment appears in the message."""
    missing = [f for f in fragments if f not in message]
    assert not missing, f"{missing} not in:\n{message}"


PAIR = """\
name: g
nodes:
  - name: prod
    model: producer
  - name: cons
    model: consumer
    map:
      a: prod.value
      v: prod.vec
"""


# -- the shipped examples ----------------------------------------------------------------------
def test_examples_load_in_dependency_order_with_overrides() -> None:
    graphs = {g.name: g for g in load_graphs([GRAPHS_DIR])}
    assert set(graphs) == {"beam_chain", "envelope_pipeline"}
    pipeline = graphs["envelope_pipeline"]
    assert [n.name for n in pipeline.nodes] == ["scan", "surrogate", "validation"]
    scan = pipeline.node("scan")
    assert (scan.model.resources.cpu, scan.model.resources.memory) == ("1", "1Gi")
    assert scan.model.input_map["k_f_steps"].default == 5.0
    validation = pipeline.node("validation")
    assert validation.model.retry.max_retries == 1 and validation.model.retry.delay == 0.5
    assert validation.mappings["exponents"].describe() == "surrogate.exponents"

    chain = graphs["beam_chain"]
    sim = chain.node("sim")
    # the node's retry keys are merged over the model's own; other keys are kept
    assert sim.model.retry.max_retries == 3
    assert sim.model.retry.backoff == "linear"
    assert sim.model.retry.delay == BEAM_ENVELOPE.retry.delay
    assert sim.model.resources == BEAM_ENVELOPE.resources  # no override: untouched
    assert sim.model.input_map["k_f"].default == 2.2
    analysis = chain.node("analysis")
    assert analysis.mappings["final_sigma_x"].index_tuple() == (-1,)
    assert analysis.mappings["sigma_y"].describe() == "sim.sigma_y"
    assert analysis.line == 16 and sim.line == 9  # lines in the defs.yaml


def test_valid_pair_and_index_forms() -> None:
    graph = load(
        PAIR
        + """\
      v3: {node: prod, output: mat, index: 0}
      m: "prod.mat[1:3]"
      iv: prod.ints[0:2]
      note: prod.label
      deck: prod.path
"""
    )
    cons = graph.node("cons")
    assert cons.mappings["v3"].index_tuple() == (0,)
    assert cons.mappings["m"].index_tuple() == (slice(1, 3),)


def test_indexed_shape() -> None:
    assert indexed_shape((None, 3), (0,)) == (3,)
    assert indexed_shape((4, 3), (slice(1, 3),)) == (2, 3)
    assert indexed_shape((4,), (-4,)) == ()
    assert indexed_shape(None, (1,)) is None
    with pytest.raises(ValueError, match="out of bounds"):
        indexed_shape((4,), (4,))


# -- one test per validation error ---------------------------------------------------------------
def test_unknown_model_suggests_nearest() -> None:
    message = error_of(PAIR.replace("model: consumer", "model: consumr"))
    assert_all_in(
        message,
        "g.yaml:6:",
        "node 'cons'",
        "model 'consumr' is not in the model catalogue",
        "did you mean 'consumer'?",
        "register_model(spec)",
    )


def test_unknown_upstream_node_suggests_nearest() -> None:
    message = error_of(PAIR.replace("a: prod.value", "a: prd.value"))
    assert_all_in(
        message, "g.yaml:8:", "node 'cons'", "no node 'prd'", "did you mean 'prod'?", "nodes are"
    )


def test_unknown_output_suggests_nearest() -> None:
    message = error_of(PAIR.replace("v: prod.vec", "v: prod.vecc"))
    assert_all_in(
        message,
        "g.yaml:9:",
        "node 'cons'",
        "model 'producer' (node 'prod') has no output 'vecc'",
        "did you mean 'vec'?",
        "its outputs are: value, vec, mat",
    )


def with_mapping(mapping: str) -> str:
    """PAIR with `mapping` ('input: source') replacing any mapping of the same input."""
    key = mapping.split(":")[0]
    kept = [line for line in PAIR.splitlines() if not line.startswith(f"      {key}: ")]
    return "\n".join(kept) + f"\n      {mapping}\n"


@pytest.mark.parametrize(
    ("mapping", "fragments"),
    [
        ("a: prod.vec", ["type mismatch: prod.vec is a float64 array of shape (None,)", "index"]),
        ("v: prod.value", ["type mismatch: prod.value is a scalar", "map an array output"]),
        ("a: prod.label", ["type mismatch: prod.label is text", "takes a scalar"]),
        ("a: prod.flags[0]", ["a single bool element", "integer or float element"]),
        ("note: prod.value", ["prod.value is a scalar but input 'note' takes text"]),
        # a text output lives in a managed file and may feed a file path; a scalar may not
        ("deck: prod.value", ["prod.value is a scalar but input 'deck' takes a file path"]),
    ],
)
def test_type_mismatch(mapping: str, fragments: list[str]) -> None:
    message = error_of(with_mapping(mapping))
    key = mapping.split(":")[0]
    assert_all_in(message, "g.yaml:", "node 'cons'", f"map '{key}'", *fragments)


@pytest.mark.parametrize(
    ("mapping", "fragments"),
    [
        ("m: prod.vec", ["shape mismatch: prod.vec has 1 dimension(s) (None,)", "takes 2"]),
        ("v3: prod.ints[1:3]", ["shape mismatch: prod.ints[1:3] has shape (2,)", "(3,)"]),
        ("v: prod.mat", ["shape mismatch", "2 dimension(s)"]),
        ("iv: prod.vec", ["dtype mismatch: prod.vec holds float64", "takes int32"]),
        ("a: prod.ints[4]", ["index 4 is out of bounds for a dimension of length 4"]),
        ("a: prod.value[0]", ["indexes a scalar; only array outputs can be indexed"]),
        ("v3: prod.mat[0, 0, 0]", ["the index has 3 items but the output has 2"]),
    ],
)
def test_shape_and_dtype_mismatch(mapping: str, fragments: list[str]) -> None:
    message = error_of(with_mapping(mapping))
    key = mapping.split(":")[0]
    assert_all_in(message, "g.yaml:", "node 'cons'", f"map '{key}'", *fragments)


def test_required_input_left_unmapped() -> None:
    message = error_of(PAIR.replace("      a: prod.value\n", ""))
    assert_all_in(
        message,
        "g.yaml:6:",
        "node 'cons'",
        "required input 'a' of model 'consumer' (a scalar) is left unmapped",
        "give it under 'inputs:' or map it",
    )


def test_required_input_suggests_same_named_output() -> None:
    text = (example_graph("beam_chain")).read_text()
    message = error_of(text.replace("        max_sigma: sim.max_sigma", "        #"))
    assert_all_in(
        message,
        "g.yaml:17: node 'analysis'",
        "required input 'max_sigma' of model 'envelope_analysis' (a scalar [mm])",
        "e.g. map: {max_sigma: sim.max_sigma}",
    )


def test_duplicate_node_names() -> None:
    message = error_of(PAIR.replace("name: cons", "name: prod"))
    assert_all_in(
        message,
        "g.yaml:5:",
        "node 'prod'",
        "duplicate node name 'prod' (first used on line 3)",
        "give every node its own name",
    )


def test_cycle_is_shown() -> None:
    message = error_of(
        """\
        name: loop
        nodes:
          - name: a
            model: relay
            map: {a: c.out}
          - name: b
            model: relay
            map: {a: a.out}
          - name: c
            model: relay
            map: {a: b.out}
        """
    )
    assert_all_in(message, "the graph has a cycle: a → b → c → a", "remove one of these mappings")
    assert "g.yaml:8: node 'b'" in message


def test_self_cycle() -> None:
    message = error_of("name: g\nnodes:\n  - {name: a, model: relay, map: {a: a.out}}\n")
    assert_all_in(message, "g.yaml:3: node 'a'", "cycle: a → a")


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        ("name: g\n", "name: g\nnodez: []\n", ["g.yaml:2:", "unknown key 'nodez'", "'nodes'?"]),
        (
            "    model: consumer\n",
            "    model: consumer\n    mapp: {}\n",
            ["g.yaml:7:", "node 'cons'", "unknown key 'mapp'", "did you mean 'map'?"],
        ),
        (
            "v: prod.vec",
            "v: {node: prod, outptu: vec}",
            ["g.yaml:9:", "unknown key 'outptu'", "did you mean 'output'?"],
        ),
        (
            "    model: producer\n",
            "    model: producer\n    retry: {max_retry: 2}\n",
            ["g.yaml:5:", "node 'prod'", "unknown key 'max_retry'", "'max_retries'?"],
        ),
        (
            "    model: producer\n",
            "    model: producer\n    resources: {cpus: '2'}\n",
            ["unknown key 'cpus'", "did you mean 'cpu'?"],
        ),
    ],
)
def test_unknown_keys(old: str, new: str, fragments: list[str]) -> None:
    message = error_of(PAIR.replace(old, new, 1))
    assert_all_in(message, *fragments)


def test_missing_keys_and_bad_values() -> None:
    message = error_of(PAIR.replace("    model: producer\n", ""))
    assert_all_in(message, "g.yaml:3:", "node 'prod'", "missing required key 'model'")
    message = error_of(PAIR.replace("name: cons", "name: 2cons"))
    assert_all_in(message, "g.yaml:5:", "name: must be a name of letters, digits and '_'")
    message = error_of(
        PAIR.replace("    model: producer\n", "    model: producer\n    resources: {cpu: lots}\n")
    )
    assert_all_in(message, "g.yaml:5:", "'lots' is not a Kubernetes quantity")
    message = error_of("name: g\nnodes: []\n")
    assert_all_in(message, "g.yaml:2:", "nodes:", "at least 1 item")
    message = error_of(PAIR.replace("v: prod.vec", "v: prod"))
    assert_all_in(message, "g.yaml:7:", "'prod' is not a mapping; write 'node.output'")


def test_fixed_inputs_are_validated() -> None:
    message = error_of(
        PAIR.replace("    model: producer\n", "    model: producer\n    inputs: {x: 11}\n")
    )
    assert_all_in(message, "g.yaml:5:", "node 'prod'", "fixed input 'x' = 11 is outside")
    message = error_of(
        PAIR.replace("    model: producer\n", "    model: producer\n    inputs: {xx: 1}\n")
    )
    assert_all_in(message, "model 'producer' has no input 'xx'", "did you mean 'x'?")
    message = error_of(PAIR.replace("    map:\n", "    inputs: {a: 1}\n    map:\n"))
    assert_all_in(message, "input 'a' is both fixed under 'inputs' and mapped; keep one")
    message = error_of(PAIR.replace("      v: prod.vec\n", "      vv: prod.vec\n"))
    assert_all_in(message, "map: model 'consumer' has no input 'vv'", "did you mean 'v'?")


def test_yaml_level_errors_name_the_line() -> None:
    assert_all_in(error_of(PAIR.replace("map:", "map: [")), "g.yaml:", "not valid YAML")
    assert_all_in(
        error_of("name: &n g\nnodes:\n  - {name: *n, model: relay}\n"),
        "g.yaml:3:",
        "alias '*n' is not allowed",
    )
    assert_all_in(
        error_of(PAIR.replace("    model: consumer\n", "    model: consumer\n    model: relay\n")),
        "g.yaml:7:",
        "key 'model' appears twice in the same mapping (first on line 6)",
    )
    assert_all_in(error_of(""), "g.yaml:1:", "the graph is empty")
    assert_all_in(error_of("- 1\n- 2\n"), "the graph is a list")


def test_all_problems_are_reported_together() -> None:
    message = error_of(
        PAIR.replace("model: consumer", "model: consumer\n    inputs: {zzz: 1}").replace(
            "v: prod.vec", "v: prod.nope"
        )
    )
    assert "(2 problems)" in message
    assert_all_in(message, "no input 'zzz'", "no output 'nope'")


# -- partitions --------------------------------------------------------------------------------


def test_partitions_flow_downstream() -> None:
    graph = load(PARTITIONED)
    assert graph.node("prod").partitions.keys() == ["1.0", "2.5"]
    assert graph.node("prod").model.input_map["x"].default == 1.0
    assert graph.node("cons").partitions is graph.node("prod").partitions
    assert not graph.node("cons").own_partitions


def test_partition_errors() -> None:
    message = error_of(PARTITIONED.replace("input: x,", "input: xx,"))
    assert_all_in(message, "g.yaml:5:", "partitions: model 'producer' has no input 'xx'", "'x'?")
    message = error_of(PARTITIONED.replace("2.5]", "25.0]"))
    assert_all_in(message, "node 'prod'", "partition input 'x' = 25 is outside")
    message = error_of(
        PARTITIONED.replace(
            "    map: {a: prod.value, v: prod.vec}",
            "    map: {a: prod.value, v: prod.vec}\n    partitions: {input: a, values: [1, 2]}",
        )
    )
    assert_all_in(message, "partitions set input 'a', which is also fixed or mapped")
    message = error_of(PARTITIONED.replace("[1.0, 2.5]", "[1.0, 1.0]"))
    assert_all_in(message, "partition values repeat: 1.0")


# -- model references and files ------------------------------------------------------------------
def test_import_references() -> None:
    graph = load("name: g\nnodes:\n  - {name: p, model: 'tests.assets.graph_toys:PRODUCER'}\n")
    assert graph.node("p").model.name == "producer"
    message = error_of("name: g\nnodes:\n  - {name: p, model: 'tests.assets.graph_toys:PRODUCR'}\n")
    assert_all_in(message, "g.yaml:3:", "node 'p'", "has no attribute 'PRODUCR'", "'PRODUCER'?")
    message = error_of("name: g\nnodes:\n  - {name: p, model: 'no_such_pkg.mod:SPEC'}\n")
    assert_all_in(message, "cannot import module 'no_such_pkg.mod'")
    message = error_of(
        "name: g\nnodes:\n  - {name: p, model: 'tests.assets.graph_toys:NOT_A_SPEC'}\n"
    )
    assert_all_in(message, "is a dict, not a ModelSpec")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(GraphSpecError, match="does not exist"):
        load_graph(tmp_path / "missing.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(GraphSpecError, match="not UTF-8"):
        load_graph(bad)
    for name in ("a.yaml", "b.yml"):
        (tmp_path / name).write_text("name: same\nnodes:\n  - {name: n, model: beam_envelope}\n")
    with pytest.raises(GraphSpecError, match="graph name 'same' is already used by"):
        load_graphs([tmp_path])
    with pytest.raises(GraphSpecError, match="LUME_GRAPHS_DIR"):
        load_graphs([tmp_path / "nope"])


def test_graphs_declared_in_python() -> None:
    from lume_assets.assets.graph_loader import graph_from_dict

    data = {
        "name": "py",
        "nodes": [
            {"name": "prod", "model": "producer", "inputs": {"x": 3.0}},
            {"name": "cons", "model": "consumer", "map": {"a": "prod.value", "v": "prod.vec"}},
        ],
    }
    graph = graph_from_dict(data, catalogue=toy_catalogue())
    assert [n.name for n in graph.nodes] == ["prod", "cons"]
    data["nodes"][1]["map"]["v"] = "prod.vek"
    with pytest.raises(GraphSpecError, match=r"<python>: node 'cons': map 'v': .*'vec'\?"):
        graph_from_dict(data, catalogue=toy_catalogue())
    with pytest.raises(GraphSpecError, match="<python>:1: the graph is a list"):
        graph_from_dict([], catalogue=toy_catalogue())  # type: ignore[arg-type]
