"""LUME-services `flow_of_flows.yaml` files, translated into our asset-graph document.

    name: distgen_impact            # -> graph name (asset group)
    project_name: impact            # -> the graph's `project:` (asset group, models' project,
                                    #    result-store project of its results)
    labels: [lume-services]         # accepted, unused
    composing_flows:                # -> nodes; a flow name resolves to a registered model
      - name: distgen
      - name: impact
        mapped_parameters:
          distgen_file:             # map_type file: the upstream's managed file, as a path
            {parent_flow_name: distgen, parent_task_name: particles, map_type: file}
          emit:                     # map_type db: `attribute_index` picks the output (+ index)
            {parent_flow_name: distgen, parent_task_name: store, map_type: db,
             attribute: outputs, attribute_index: [norm_emit_x]}

`map_type: raw` passes the upstream output's value. The translation keeps the source lines, so
every later problem (unknown model, type mismatch) is still reported as `file:line`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lume_assets.assets.graph_problems import Problems
from lume_assets.assets.graph_yaml import LineDict, LineList, line_of
from lume_assets.models.catalogue import did_you_mean


class MappedParameter(BaseModel):
    """One mapped parameter of a composing flow."""

    model_config = ConfigDict(extra="forbid")

    parent_flow_name: str = Field(description="The upstream flow")
    parent_task_name: str = Field(description="The upstream task/output name")
    map_type: Literal["file", "db", "raw"] = "raw"
    attribute: str | None = None
    attribute_index: list[str | int] | None = None


class ComposingFlow(BaseModel):
    """One flow of the flow of flows (a node)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The flow name: a registered model of that name")
    project_name: str | None = None
    labels: list[str] = Field(default_factory=list)
    description: str = ""
    mapped_parameters: dict[str, MappedParameter] = Field(default_factory=dict)


class FlowOfFlows(BaseModel):
    """A LUME-services flow of flows."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Name of the flow of flows")
    project_name: str | None = None
    labels: list[str] = Field(default_factory=list)
    description: str = ""
    composing_flows: list[ComposingFlow] = Field(description="The flows, upstream first")


def is_flow_of_flows(raw: Any) -> bool:
    """Whether a parsed document is a LUME-services flow of flows (it has `composing_flows`)."""
    return isinstance(raw, dict) and "composing_flows" in raw


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema model of the mapping at `loc` of a flow-of-flows document."""
    if loc == ():
        return FlowOfFlows
    if len(loc) == 2:
        return ComposingFlow
    if len(loc) == 4:
        return MappedParameter
    return None


def _as_list(raw: Any) -> Any:
    """`composing_flows` given as a mapping (name -> flow) becomes the list form, lines kept."""
    flows = raw.get("composing_flows")
    if not isinstance(flows, dict):
        return raw
    items = LineList()
    items.line, items.item_lines = getattr(flows, "line", 0), []
    key_lines = getattr(flows, "key_lines", {})
    for name, flow in flows.items():
        entry = LineDict({"name": name, **(flow or {})})
        entry.line = key_lines.get(name, 0)
        entry.key_lines = {"name": entry.line, **getattr(flow, "key_lines", {})}
        items.append(entry)
        items.item_lines.append(entry.line)
    out = LineDict({**raw, "composing_flows": items})
    out.line, out.key_lines = getattr(raw, "line", 0), getattr(raw, "key_lines", {})
    return out


def _located(value: dict[str, Any], src: Any, keys: dict[str, str]) -> LineDict:
    """A LineDict of `value` whose keys take the lines of `src`'s keys (`ours -> theirs`)."""
    out = LineDict(value)
    out.line = getattr(src, "line", 0)
    lines = getattr(src, "key_lines", {})
    out.key_lines = {ours: lines.get(theirs, out.line) for ours, theirs in keys.items()}
    return out


def translate_flow_of_flows(raw: Any, source: str) -> Any:
    """Our graph document for a flow-of-flows document (GraphSpecError with file:line)."""
    raw = _as_list(raw)
    problems = Problems(source, raw)
    try:
        fof = FlowOfFlows.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            if err.get("type") == "extra_forbidden":
                model = _model_at(loc[:-1])
                allowed = list(model.model_fields) if model is not None else []
                hint = did_you_mean(str(loc[-1]), allowed)
                problems.add(
                    loc,
                    f"unknown key {loc[-1]!r} in a flow of flows; {hint}"
                    f"allowed keys here: {', '.join(allowed)}.",
                )
            elif err.get("type") == "missing":
                problems.add(loc[:-1], f"missing required key {loc[-1]!r}; add it.")
            else:
                field = ".".join(map(str, loc))
                problems.add(loc, f"{field}: {err.get('msg', 'invalid value')}.")
        raise problems.error() from None
    flows_raw = raw["composing_flows"]
    nodes = LineList()
    nodes.line, nodes.item_lines = flows_raw.line if hasattr(flows_raw, "line") else 0, []
    for i, flow in enumerate(fof.composing_flows):
        src = flows_raw[i]
        mapping: dict[str, Any] = {}
        params_src = src.get("mapped_parameters", {}) if isinstance(src, dict) else {}
        for param, mapped in flow.mapped_parameters.items():
            psrc = params_src.get(param)
            output, index = mapped.parent_task_name, None
            if mapped.map_type == "db":
                names = list(mapped.attribute_index or [])
                if mapped.attribute not in (None, "outputs") or not names:
                    problems.add(
                        ("composing_flows", i, "mapped_parameters", param),
                        f"db parameter {param!r}: only `attribute: outputs` with an "
                        "`attribute_index` naming the output is supported; set them.",
                    )
                    continue
                output, index = str(names[0]), [int(x) for x in names[1:]] or None
            ref = {"node": mapped.parent_flow_name, "output": output}
            if index is not None:
                ref["index"] = index
            mapping[param] = _located(
                ref, psrc, {"node": "parent_flow_name", "output": "parent_task_name"}
            )
        node: dict[str, Any] = {"name": flow.name, "model": flow.name}
        if flow.description:
            node["description"] = flow.description
        if mapping:
            node["map"] = _located(mapping, params_src, {k: k for k in mapping})
        nodes.append(
            _located(node, src, {"name": "name", "model": "name", "map": "mapped_parameters"})
        )
        nodes.item_lines.append(line_of(flows_raw, (i,)))
    problems.raise_if_any()
    graph: dict[str, Any] = {
        "name": fof.name,
        "description": fof.description or f"flow of flows {fof.name}",
        "nodes": nodes,
    }
    if fof.project_name:
        graph["project"] = fof.project_name
    keys = {"name": "name", "description": "name", "nodes": "composing_flows"}
    return _located(graph, raw, {**keys, "project": "project_name"})


def translate_if_flow_of_flows(raw: Any, source: str) -> Any:
    """`raw` itself, or its translation when it is a LUME-services flow of flows."""
    return translate_flow_of_flows(raw, source) if is_flow_of_flows(raw) else raw
