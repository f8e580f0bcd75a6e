"""An asset graph specification (pydantic): models as nodes, outputs mapped to inputs.

```yaml
name: beam_chain                  # the key prefix and job of the graph (its asset group too)
project: injector                 # optional: the asset group, the models' project and the
                                  # result-store project (collection) of the graph's results
nodes:
  - name: sim
    model: beam_envelope          # a catalogue name, or 'package.module:SPEC'
    inputs: {k_f: 2.2}            # fixed inputs (config defaults in the launchpad)
  - name: analysis
    model: envelope_analysis
    map:                          # input <- upstream node's output
      s: sim.s                    # array, loaded from sim's HDF5 file
      max_sigma: sim.max_sigma    # scalar, from sim's result record
      final_sigma_x: sim.sigma_x[-1]           # an element of an array output
      sigma_y: {node: sim, output: sigma_y}    # long form
    retry: {max_retries: 2, delay: 1.0}        # per-node overrides
    resources: {cpu: "1", memory: 1Gi}
    partitions: {input: aperture, values: [10, 20]}
schedules:                        # optional: run the whole graph on a clock
  - {name: nightly_beam_chain, cron: "0 2 * * *", timezone: Europe/Berlin}
```

This module holds the shapes only; `graph_validation` checks them against the models.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lume_assets.automation.schedules import ScheduleSpec
from lume_assets.models.model import ModelResources, RetrySpec

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: `node.output` or `node.output[i, a:b]`
_SHORTHAND = re.compile(
    r"^\s*(?P<node>[A-Za-z_]\w*)\.(?P<output>[A-Za-z_]\w*)\s*(\[(?P<index>[^\[\]]*)\])?\s*$"
)
_SLICE = re.compile(r"^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*(:\s*(-?\d+)?\s*)?$")

IndexItem = int | str


def parse_index_item(item: Any) -> int | slice:
    """An index item as an int or a slice ('a:b', 'a:b:c', ':'); ValueError if neither."""
    if isinstance(item, bool):
        raise ValueError(f"index item {item!r} must be an integer or a slice like '1:5'")
    if isinstance(item, int):
        return item
    if isinstance(item, str):
        text = item.strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        match = _SLICE.match(text)
        if match:
            start, stop, _, step = match.groups()
            if step is not None and int(step) == 0:
                raise ValueError(f"slice {item!r} has step 0")
            return slice(
                None if start is None else int(start),
                None if stop is None else int(stop),
                None if step is None else int(step),
            )
    raise ValueError(f"index item {item!r} must be an integer or a slice like '1:5'")


class OutputRef(BaseModel):
    """An input's source: output `output` of node `node`, optionally indexed (arrays)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node: str = Field(pattern=NAME_PATTERN, description="Upstream node name.")
    output: str = Field(pattern=NAME_PATTERN, description="Output of the upstream node's model.")
    index: list[IndexItem] | None = Field(
        default=None,
        description="Index into an array output: integers and 'start:stop[:step]' slices.",
    )

    @field_validator("index", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        """A single index item may be written without brackets."""
        return [value] if isinstance(value, int | str) and not isinstance(value, bool) else value

    @field_validator("index")
    @classmethod
    def _items(cls, value: list[IndexItem] | None) -> list[IndexItem] | None:
        """Every item must parse as an int or a slice; an empty index is meaningless."""
        if value is not None:
            if not value:
                raise ValueError("index is empty; remove it or give at least one item")
            for item in value:
                parse_index_item(item)
        return value

    def index_tuple(self) -> tuple[int | slice, ...] | None:
        """The index as a numpy indexing tuple (None without an index)."""
        return None if self.index is None else tuple(parse_index_item(i) for i in self.index)

    def describe(self) -> str:
        """`node.output[...]` as written in shorthand."""
        suffix = f"[{', '.join(str(i) for i in self.index)}]" if self.index else ""
        return f"{self.node}.{self.output}{suffix}"

    @classmethod
    def parse(cls, value: Any) -> Any:
        """Turn the shorthand 'node.output[index]' into the long form (others unchanged)."""
        if not isinstance(value, str):
            return value
        match = _SHORTHAND.match(value)
        if match is None:
            raise ValueError(
                f"{value!r} is not a mapping; write 'node.output' (e.g. 'sim.sigma_x'), "
                "'node.output[index]', or {node: ..., output: ..., index: ...}"
            )
        data: dict[str, Any] = {"node": match["node"], "output": match["output"]}
        if match["index"] is not None:
            data["index"] = [p.strip() for p in match["index"].split(",")]
        return data


class NodePartitions(BaseModel):
    """Static partitions of a node: each partition key fixes input `input` to one value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str = Field(pattern=NAME_PATTERN, description="The input each partition sets.")
    values: list[float | int | str] = Field(min_length=1, description="One partition per value.")

    @field_validator("values")
    @classmethod
    def _unique(cls, values: list[Any]) -> list[Any]:
        """Partition keys must be distinct."""
        keys = [partition_key(v) for v in values]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"partition values repeat: {', '.join(dupes)}; list each once")
        return values

    def keys(self) -> list[str]:
        """The Dagster partition keys, in order."""
        return [partition_key(v) for v in self.values]

    def value_of(self, key: str) -> Any:
        """The input value of partition `key`."""
        return dict(zip(self.keys(), self.values, strict=True))[key]


def partition_key(value: Any) -> str:
    """The partition key of a partition value (numbers with `repr`-exact text)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


class LumeTorchRef(BaseModel):
    """`model: {lume_torch: path/to/model.yml}`: a lume-torch model YAML (+ its `.pt` files)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lume_torch: str = Field(min_length=1, description="Model YAML, relative to the graph file.")


class NodeSpec(BaseModel):
    """One node of a graph: a model, its fixed inputs, its mapped inputs and overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=NAME_PATTERN, description="Node name (part of its asset keys).")
    model: str | LumeTorchRef = Field(
        description="Catalogue name, 'package.module:SPEC' or {lume_torch: model.yml}."
    )
    description: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict, description="Fixed input values.")
    mappings: dict[str, OutputRef] = Field(
        default_factory=dict, alias="map", description="input name -> upstream node's output."
    )
    resources: ModelResources | None = None
    retry: RetrySpec | None = None
    partitions: NodePartitions | None = None

    @field_validator("mappings", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """Expand 'node.output[index]' strings to the long form."""
        if isinstance(value, dict):
            return {k: OutputRef.parse(v) for k, v in value.items()}
        return value


class GraphSpec(BaseModel):
    """A named asset graph of model nodes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="Graph name: asset group and key prefix.")
    project: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Project: the asset group (instead of the name), the models' project and "
        "the result-store project the graph's results go to (default: the store's own).",
    )
    description: str = ""
    nodes: list[NodeSpec] = Field(min_length=1, description="The model nodes of the graph.")
    schedules: list[ScheduleSpec] = Field(
        default_factory=list, description="Cron schedules running the whole graph."
    )


def model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model validating the mapping at `loc` of a graph document, if any."""
    if loc == ():
        return GraphSpec
    if len(loc) == 2 and loc[0] == "nodes":
        return NodeSpec
    if len(loc) == 2 and loc[0] == "schedules":
        return ScheduleSpec
    if len(loc) == 3 and loc[0] == "nodes":
        return {
            "resources": ModelResources,
            "retry": RetrySpec,
            "partitions": NodePartitions,
            "model": LumeTorchRef,
        }.get(loc[2])
    if len(loc) == 4 and loc[0] == "nodes" and loc[2] in ("map", "mappings"):
        return OutputRef
    return None


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The keys a YAML mapping validated by `model` may use."""
    return [f.alias or name for name, f in model.model_fields.items()]


__all__ = [
    "GraphSpec",
    "LumeTorchRef",
    "NodePartitions",
    "NodeSpec",
    "OutputRef",
    "allowed_keys",
    "model_at",
    "parse_index_item",
    "partition_key",
]
