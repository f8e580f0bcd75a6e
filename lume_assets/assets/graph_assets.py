"""A validated asset graph as Dagster assets: `load_asset_graph("graph.yaml")`.

Each node becomes a `model_asset` keyed `[graph, node, model, <node>_<output>]` (Dagit's lineage
cards show the last component: `sim_result`, `analysis_result`) in the asset group named after
the graph (after its `project:` when it has one; its records then go to that result-store
project): its scalar outputs in the result store ("result_io_manager"), its arrays in HDF5
("hdf5_io_manager"), its text in text files ("text_io_manager"). A mapped input becomes a
dependency on the upstream asset holding that output — arrays and text load from their files,
scalars from the upstream `Result` — with the optional index applied. Fixed inputs are the
defaults of the node's run config; per-node resources/retry/partitions are applied.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from lume_assets.assets.file_inputs import FILE_OUTPUT_KINDS
from lume_assets.assets.graph_loader import load_graph, load_graphs
from lume_assets.assets.graph_spec import NodePartitions
from lume_assets.assets.graph_validation import ResolvedGraph, ResolvedNode
from lume_assets.assets.model_assets import (
    FromOutput,
    model_asset,
    model_output_key,
    model_result_key,
    output_binding,
)
from lume_assets.assets.model_config import LaunchpadBlock, launchpad_link
from lume_assets.assets.model_keys import model_op_name
from lume_assets.deploy.jobs import group_assets, group_job
from lume_assets.errors import GraphSpecError, LumeError
from lume_assets.models.catalogue import ModelCatalogue


@dataclass
class AssetGraph:
    """The Dagster assets of one graph, with lookups by node and output."""

    graph: ResolvedGraph
    assets: list[dg.AssetsDefinition] = field(default_factory=list)
    by_node: dict[str, dg.AssetsDefinition] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The graph name (key prefix and job)."""
        return self.graph.name

    @property
    def group(self) -> str:
        """The asset group: the graph's project, else its name."""
        return self.graph.group

    def prefix(self, node: str) -> list[str]:
        """Key prefix of a node's assets."""
        return [self.graph.name, node]

    def key(self, node: str, output: str) -> dg.AssetKey:
        """Asset key holding `output` of `node` (scalars: the node's result asset)."""
        return model_output_key(self.graph.node(node).model, output, self.prefix(node), node)

    def result_key(self, node: str) -> dg.AssetKey:
        """Asset key of a node's result record."""
        return model_result_key(self.graph.node(node).model, self.prefix(node), node)

    def op_name(self, node: str) -> str:
        """The op (run-config key) of a node."""
        return self.by_node[node].op.name


def _binding(graph: ResolvedGraph, node: ResolvedNode, input_name: str) -> Any:
    """The `upstream=` binding of a mapped input."""
    ref = node.mappings[input_name]
    upstream = graph.node(ref.node)
    prefix = [graph.name, upstream.name]
    out_var = upstream.model.output_map.get(ref.output)
    if (
        node.model.input_map[input_name].kind == "file"
        and out_var is not None
        and (out_var.kind in FILE_OUTPUT_KINDS)
    ):
        # a file-path input reads the upstream result: its provenance holds the file's path
        return FromOutput(model_result_key(upstream.model, prefix, upstream.name), ref.output)
    binding = output_binding(upstream.model, ref.output, prefix, upstream.name)
    index = ref.index_tuple()
    if index is None:
        return binding
    if isinstance(binding, FromOutput):
        return binding._replace(index=index)
    return FromOutput(binding, None, index)


def _partition_inputs(part: NodePartitions) -> Any:
    """`partition key -> {input: value}` for a node's own partitions."""

    def inputs(key: str) -> dict[str, Any]:
        return {part.input: part.value_of(key)}

    return inputs


def _launchpad(graph: ResolvedGraph) -> str | None:
    """The link to `<graph>_job`'s launchpad on every unpartitioned node's inputs, in the
    graph's node order, each node's in declared order with units and ranges."""
    blocks = [
        LaunchpadBlock(
            node.model, model_op_name(node.model, [graph.name, node.name]), [*node.mappings]
        )
        for node in graph.nodes
        if node.partitions is None
    ]
    return launchpad_link(f"{graph.name}_job", blocks) if blocks else None


def build_asset_graph(graph: ResolvedGraph) -> AssetGraph:
    """Turn a validated graph into Dagster assets (GraphSpecError if a model refuses)."""
    result = AssetGraph(graph=graph)
    launchpad = _launchpad(graph)
    partitions: dict[tuple[str, ...], dg.StaticPartitionsDefinition] = {}
    for node in graph.nodes:
        part = node.partitions
        partitions_def = None
        if part is not None:
            partitions_def = partitions.setdefault(
                tuple(part.keys()), dg.StaticPartitionsDefinition(part.keys())
            )
        try:
            asset = model_asset(
                node.model,
                key_prefix=[graph.name, node.name],
                group_name=graph.group,
                results_project=graph.spec.project,
                upstream={name: _binding(graph, node, name) for name in node.mappings},
                partitions_def=partitions_def,
                partition_inputs=_partition_inputs(part) if node.own_partitions else None,
                node=node.name,
                launchpad=launchpad if part is None else None,
            )
        except (LumeError, dg.DagsterError) as exc:
            raise GraphSpecError(
                f"invalid asset graph: {graph.source}:{node.line}: node {node.name!r}: cannot "
                f"build its assets from model {node.model.name!r}: {exc}"
            ) from None
        result.assets.append(asset)
        result.by_node[node.name] = asset
    return result


def graph_job(graph: AssetGraph) -> Any:
    """`<graph>_job` materializing the graph's unpartitioned assets (None if all partitioned)."""
    if not group_assets(graph.assets, graph.group):
        return None
    try:
        return group_job(graph.assets, graph.group, f"{graph.name}_job")
    except LumeError as exc:
        raise GraphSpecError(
            f"invalid asset graph: {graph.graph.source}: graph {graph.name!r} cannot run as one "
            f"job: {exc}"
        ) from None


def load_asset_graph(path: str | Path, catalogue: ModelCatalogue | None = None) -> AssetGraph:
    """Read, validate and build the asset graph in the YAML file at `path`."""
    return build_asset_graph(load_graph(path, catalogue))


def load_asset_graphs(
    folders: Iterable[str | Path], catalogue: ModelCatalogue | None = None
) -> list[AssetGraph]:
    """Every graph in `folders` as Dagster assets (graph names unique across folders)."""
    return [build_asset_graph(g) for g in load_graphs(folders, catalogue)]


__all__ = [
    "AssetGraph",
    "build_asset_graph",
    "graph_job",
    "load_asset_graph",
    "load_asset_graphs",
]
