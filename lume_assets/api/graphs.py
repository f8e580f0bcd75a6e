"""A whole model graph as one run: its job, its nodes, run config from `node.input` values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import dagster as dg

from lume_assets.api.catalog import MODEL_METADATA, VERSION_METADATA
from lume_assets.api.inputs import config_value
from lume_assets.assets.model_keys import is_result_path
from lume_assets.errors import ClientError, ModelInputError

JOB_SUFFIX = "_job"


class GraphNode(NamedTuple):
    """One node of a served graph: its model, result asset, op and spec (when known)."""

    node: str
    model: str
    result_asset: str
    op_name: str
    spec: Any


def graph_job_name(graph: str) -> str:
    """The job that materializes graph `graph`."""
    return f"{graph}{JOB_SUFFIX}"


def served_graphs(definitions: dg.Definitions) -> list[str]:
    """Names of the graphs the definitions serve (those with a `<graph>_job`)."""
    graphs = {
        key.path[0]
        for key, spec in _result_specs(definitions)
        if len(key.path) >= 4 and _has_job(definitions, graph_job_name(key.path[0]))
    }
    return sorted(graphs)


def _has_job(definitions: dg.Definitions, name: str) -> bool:
    """Whether the definitions hold job `name`."""
    return definitions.get_repository_def().has_job(name)


def _result_specs(definitions: dg.Definitions) -> list[tuple[dg.AssetKey, Any]]:
    """(key, AssetSpec) of every model result asset."""
    out = []
    for assets_def in definitions.get_repository_def().assets_defs_by_key.values():
        for key, spec in assets_def.specs_by_key.items():
            if spec.metadata.get(MODEL_METADATA) is not None and is_result_path(key.path):
                out.append((key, spec))
    return out


def graph_nodes(definitions: dg.Definitions, graph: str) -> dict[str, GraphNode]:
    """The nodes of graph `graph` by name (ClientError naming the served graphs if unknown)."""
    from lume_assets.serving import served_spec

    if not _has_job(definitions, graph_job_name(graph)):
        known = ", ".join(served_graphs(definitions)) or "none"
        raise ClientError(
            f"No graph {graph!r} runnable as one job in this code location; graphs: {known}."
        )
    nodes: dict[str, GraphNode] = {}
    for key, spec in _result_specs(definitions):
        if len(key.path) < 4 or key.path[0] != graph:
            continue
        model = str(spec.metadata[MODEL_METADATA])
        version = str(spec.metadata.get(VERSION_METADATA, ""))
        op_name = definitions.get_assets_def(key).node_def.name
        nodes[key.path[1]] = GraphNode(
            key.path[1], model, key.to_user_string(), op_name, served_spec(model, version)
        )
    return nodes


def split_inputs(inputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`{"node.x": v}` or `{"node": {"x": v}}` as {node: {input: value}}."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in inputs.items():
        if isinstance(value, Mapping):
            out.setdefault(key, {}).update(value)
            continue
        node, sep, name = key.partition(".")
        if not sep or not node or not name:
            raise ModelInputError(
                f"graph input {key!r} does not name a node; write NODE.INPUT, e.g. sim.k_f=2.3."
            )
        out.setdefault(node, {})[name] = value
    return out


def graph_run_config(
    graph: str, nodes: Mapping[str, GraphNode], inputs: Mapping[str, Any], force: bool = False
) -> dict[str, Any]:
    """Run config of the graph's job: each node's inputs validated by its model."""
    ops: dict[str, Any] = {}
    for node, values in split_inputs(inputs).items():
        if node not in nodes:
            raise ModelInputError(
                f"graph {graph!r} has no node {node!r}; nodes: {', '.join(sorted(nodes))}."
            )
        entry = nodes[node]
        checked = dict(values)
        if entry.spec is not None:
            unknown = sorted(set(values) - set(entry.spec.input_map))
            if unknown:
                raise ModelInputError(
                    f"node {node!r} (model {entry.model!r}) has no input(s) {unknown}; inputs "
                    f"are {', '.join(entry.spec.input_map)}."
                )
            inputs_of = entry.spec.input_map
            checked = {k: inputs_of[k].validate_value(v) for k, v in values.items()}
        ops[entry.op_name] = {"config": {k: config_value(v) for k, v in checked.items()}}
    if force:
        for entry in nodes.values():
            ops.setdefault(entry.op_name, {"config": {}})["config"]["force"] = True
    return {"ops": ops} if ops else {}


__all__ = [
    "GraphNode",
    "graph_job_name",
    "graph_nodes",
    "graph_run_config",
    "served_graphs",
    "split_inputs",
]
