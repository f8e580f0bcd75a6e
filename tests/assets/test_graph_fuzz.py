"""Hypothesis: 1,000 random malformed graph specs — each gives a GraphSpecError with a message,
never any other exception (no pydantic ValidationError, YAML error, KeyError, numpy error...).

Three sources, each malformed by construction:
- random text (never a graph: no node can name a catalogue model);
- random YAML-ish structures built from the graph's own key names and random values, with
  strings that are never a catalogue model name (so no node can be valid);
- a valid spec broken by 1-3 mutations, each of which alone makes it invalid.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lume_assets.assets.graph_loader import load_graph_text
from lume_assets.errors import GraphSpecError
from tests.assets.graph_toys import toy_catalogue

CATALOGUE = toy_catalogue()
MODEL_NAMES = set(CATALOGUE.names())
KEYS = [
    "name",
    "nodes",
    "model",
    "inputs",
    "map",
    "node",
    "output",
    "index",
    "retry",
    "resources",
    "partitions",
    "values",
    "input",
    "max_retries",
    "cpu",
    "description",
]

VALID: dict[str, Any] = {
    "name": "g",
    "description": "a valid graph the mutations break",
    "nodes": [
        {
            "name": "prod",
            "model": "producer",
            "inputs": {"x": 2.0},
            "retry": {"max_retries": 1, "delay": 0.5},
            "resources": {"cpu": "1", "memory": "1Gi"},
        },
        {
            "name": "cons",
            "model": "consumer",
            "map": {
                "a": "prod.value",
                "v": {"node": "prod", "output": "vec"},
                "v3": "prod.mat[0]",
            },
        },
        {"name": "tail", "model": "relay", "map": {"a": "cons.total"}},
    ],
}


def test_the_base_spec_is_valid() -> None:
    graph = load_graph_text(yaml.safe_dump(VALID), "fuzz.yaml", CATALOGUE)
    assert [n.name for n in graph.nodes] == ["prod", "cons", "tail"]


# -- random structures -----------------------------------------------------------------------
not_a_model = st.text(max_size=12).filter(lambda s: s not in MODEL_NAMES and ":" not in s)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    not_a_model,
    st.sampled_from(KEYS),
    st.sampled_from(["prod.value", "a.b[1:2]", "x.y[-1]", "1:2", "[]", "{}"]),
)
structures = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), not_a_model), children, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def random_documents(draw: st.DrawFn) -> str:
    """A random structure dumped as YAML (no catalogue model name anywhere)."""
    return yaml.safe_dump(draw(structures), allow_unicode=True)


# -- mutations of the valid spec ---------------------------------------------------------------
def _node(doc: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    return doc["nodes"][draw(st.integers(0, len(doc["nodes"]) - 1))]


def _unknown_model(doc: dict[str, Any], draw: st.DrawFn) -> None:
    _node(doc, draw)["model"] = draw(not_a_model)


def _drop_required(doc: dict[str, Any], draw: st.DrawFn) -> None:
    where = draw(st.sampled_from(["graph_name", "nodes", "node_name", "node_model"]))
    if where == "graph_name":
        del doc["name"]
    elif where == "nodes":
        del doc["nodes"]
    else:
        del _node(doc, draw)[where.removeprefix("node_")]


def _unknown_key(doc: dict[str, Any], draw: st.DrawFn) -> None:
    target = draw(st.sampled_from(["graph", "node", "retry", "resources", "mapping"]))
    key = draw(st.text(min_size=1, max_size=10))
    containers = {
        "graph": doc,
        "node": _node(doc, draw),
        "retry": doc["nodes"][0]["retry"],
        "resources": doc["nodes"][0]["resources"],
        "mapping": doc["nodes"][1]["map"]["v"],
    }
    container = containers[target]
    while key in container or key in KEYS or key in ("delay", "memory", "mappings"):
        key += "_"
    container[key] = draw(scalars)


def _unknown_upstream(doc: dict[str, Any], draw: st.DrawFn) -> None:
    name = draw(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True))
    if name in ("prod", "cons", "tail"):
        name += "_x"
    doc["nodes"][1]["map"]["a"] = f"{name}.value"


def _unknown_output(doc: dict[str, Any], draw: st.DrawFn) -> None:
    out = draw(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True))
    if out in CATALOGUE.resolve("producer").output_map:
        out += "_x"
    doc["nodes"][1]["map"]["v"] = {"node": "prod", "output": out}


def _wrong_type(doc: dict[str, Any], draw: st.DrawFn) -> None:
    where = draw(st.sampled_from(["nodes", "node", "inputs", "fixed", "retry", "map", "index"]))
    junk = draw(st.one_of(st.integers(), st.floats(), st.booleans(), st.none()))
    if where == "nodes":
        doc["nodes"] = draw(st.one_of(st.integers(), st.text(max_size=5), st.just([])))
    elif where == "node":
        doc["nodes"][0] = junk
    elif where == "inputs":
        doc["nodes"][0]["inputs"] = draw(st.one_of(st.integers(), st.lists(st.integers())))
    elif where == "fixed":
        doc["nodes"][0]["inputs"]["x"] = draw(
            st.one_of(st.text(max_size=5), st.floats(min_value=10.5), st.lists(st.integers()))
        )
    elif where == "retry":
        doc["nodes"][0]["retry"]["max_retries"] = draw(
            st.one_of(st.integers(max_value=-1), st.integers(min_value=101), st.text(max_size=3))
        )
    elif where == "map":
        doc["nodes"][1]["map"]["a"] = draw(st.one_of(st.integers(), st.just("prod"), st.none()))
    else:
        doc["nodes"][1]["map"]["v3"] = {
            "node": "prod",
            "output": "mat",
            "index": draw(
                st.one_of(st.just([]), st.just([0, 0, 0]), st.just("x:y"), st.just([0, 5]))
            ),
        }


def _duplicate_node(doc: dict[str, Any], draw: st.DrawFn) -> None:
    doc["nodes"].append(copy.deepcopy(_node(doc, draw)))


def _cycle(doc: dict[str, Any], draw: st.DrawFn) -> None:
    doc["nodes"][0]["map"] = {"x": "tail.out"}
    del doc["nodes"][0]["inputs"]


def _unmapped(doc: dict[str, Any], draw: st.DrawFn) -> None:
    del doc["nodes"][1]["map"][draw(st.sampled_from(["a", "v"]))]


def _type_mismatch(doc: dict[str, Any], draw: st.DrawFn) -> None:
    source, target = draw(
        st.sampled_from(
            [("prod.vec", "a"), ("prod.value", "v"), ("prod.label", "a"), ("prod.mat", "v")]
        )
    )
    doc["nodes"][1]["map"][target] = source


MUTATIONS = [
    _unknown_model,
    _drop_required,
    _unknown_key,
    _unknown_upstream,
    _unknown_output,
    _wrong_type,
    _duplicate_node,
    _cycle,
    _unmapped,
    _type_mismatch,
]


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    """The valid spec after 1-3 invalidating mutations, as YAML text."""
    doc = copy.deepcopy(VALID)
    for mutate in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3)):
        try:
            mutate(doc, draw)
        except (KeyError, TypeError, IndexError, AttributeError):
            # an earlier mutation removed what this one edits; the document is invalid already
            pass
    return yaml.safe_dump(doc, allow_unicode=True)


documents = st.one_of(st.text(max_size=200), random_documents(), mutated_documents())


@settings(
    max_examples=1000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(documents)
def test_malformed_specs_give_a_graph_spec_error(text: str) -> None:
    try:
        load_graph_text(text, "fuzz.yaml", CATALOGUE)
    except GraphSpecError as exc:
        message = str(exc)
        assert message.startswith("invalid asset graph"), message
        assert "fuzz.yaml" in message
        return
    raise AssertionError(f"accepted a malformed spec:\n{text}")
