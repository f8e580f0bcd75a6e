"""Graph file text → `GraphSpec`, every YAML or schema problem reported with its file and line.

A Dagster Components file (`defs.yaml`: `type: lume_assets.ModelGraph` + `attributes:`) reads
the same way: the graph is its `attributes`, with lines as written in the file.

pydantic's errors are translated: an unknown key names the nearest allowed key, a missing key
says what it is for, a bad value says what was given. Never a pydantic or YAML traceback.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from lume_assets.assets.flow_of_flows import translate_if_flow_of_flows
from lume_assets.assets.graph_problems import Problems, short
from lume_assets.assets.graph_spec import GraphSpec, allowed_keys, model_at
from lume_assets.assets.graph_yaml import YamlLocationError, load_yaml, load_yaml_all
from lume_assets.errors import GraphSpecError
from lume_assets.models.catalogue import did_you_mean


def read_yaml(text: str, source: str, every: bool = False) -> Any:
    """Parse graph YAML text (GraphSpecError naming the line on any YAML problem); with
    `every`, the list of all documents of the stream."""
    try:
        return load_yaml_all(text) if every else load_yaml(text)
    except YamlLocationError as exc:
        raise GraphSpecError(f"invalid asset graph: {source}:{exc.line}: {exc.message}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "unreadable YAML"
        raise GraphSpecError(
            f"invalid asset graph: {source}:{line}: not valid YAML: {what}; check indentation, "
            "colons and quotes around this line."
        ) from None
    except yaml.YAMLError as exc:
        raise GraphSpecError(f"invalid asset graph: {source}: not valid YAML: {exc}") from None
    except RecursionError:
        raise GraphSpecError(
            f"invalid asset graph: {source}: the YAML is nested too deeply to be a graph."
        ) from None


def read_yaml_documents(text: str, source: str) -> list[Any]:
    """Every YAML document of a graph or `defs.yaml` file (GraphSpecError on YAML problems)."""
    return read_yaml(text, source, every=True)


#: The keys of a Dagster Components document (`defs.yaml`).
COMPONENT_KEYS = {"type", "attributes", "requirements", "post_processing", "template_vars_module"}


def graph_document(raw: Any, source: str) -> Any:
    """The graph inside a document: a `defs.yaml` component's `attributes`, else the document."""
    if isinstance(raw, dict) and "type" in raw and set(raw) <= COMPONENT_KEYS:
        attributes = raw.get("attributes")
        if attributes is None:
            line = getattr(raw, "key_lines", {}).get("type", 1)
            raise GraphSpecError(
                f"invalid asset graph: {source}:{line}: component {raw['type']!r} has no "
                "'attributes'; put the graph (name, nodes, ...) under 'attributes:'."
            )
        return attributes
    return raw


def parse_graph(text: str, source: str = "<string>", document: int = 0) -> tuple[GraphSpec, Any]:
    """Parse and schema-check graph YAML (document number `document` of a `---` stream, a
    plain graph or a component's attributes); return the spec and the raw document."""
    docs = read_yaml_documents(text, source)
    if not 0 <= document < max(len(docs), 1):
        raise GraphSpecError(f"invalid asset graph: {source}: no YAML document #{document + 1}.")
    raw = docs[document] if docs else None
    raw = translate_if_flow_of_flows(graph_document(raw, source), source)
    return check_graph_data(raw, source)


def check_graph_data(raw: Any, source: str = "<python>") -> tuple[GraphSpec, Any]:
    """Schema-check a graph document (from YAML, or a plain dict built in Python)."""
    if not isinstance(raw, dict):
        kind = "empty" if raw is None else _KINDS.get(type(raw).__name__, "a single value")
        raise GraphSpecError(
            f"invalid asset graph: {source}:{getattr(raw, 'line', 1) or 1}: the graph is {kind}; "
            "a graph file is a mapping with 'name' and 'nodes' (a list of nodes with 'name' "
            "and 'model')."
        )
    try:
        spec = GraphSpec.model_validate(raw)
    except ValidationError as exc:
        problems = Problems(source, raw)
        for err in exc.errors():
            _report(problems, err)
        raise problems.error() from None
    except RecursionError:
        raise GraphSpecError(
            f"invalid asset graph: {source}: the YAML is nested too deeply to be a graph."
        ) from None
    return spec, raw


_KINDS = {"LineList": "a list", "list": "a list", "str": "a single text value"}


def _report(problems: Problems, err: Any) -> None:
    """Record one pydantic error as a located, actionable problem."""
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    field = ".".join(str(p) for p in loc[2:] if p != "[key]") if loc[:1] == ("nodes",) else ""
    field = field or ".".join(str(p) for p in loc)
    if kind == "extra_forbidden":
        key = loc[-1]
        model = model_at(loc[:-1])
        allowed = allowed_keys(model) if model is not None else []
        hint = did_you_mean(str(key), allowed)
        keys = f"allowed keys here: {', '.join(allowed)}" if allowed else "remove it"
        problems.add(loc, f"unknown key {key!r}; {hint}{keys}.")
        return
    if kind == "missing":
        model = model_at(loc[:-1])
        info = model.model_fields.get(str(loc[-1])) if model is not None else None
        what = f" ({info.description.rstrip('.')})" if info is not None and info.description else ""
        parent = loc[:-1]
        problems.add(parent, f"missing required key {loc[-1]!r}{what}; add it.")
        return
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        message = "must be a name of letters, digits and '_' that does not start with a digit"
    value = err.get("input")
    got = "" if isinstance(value, dict | list) else f" (got {short(value)})"
    if loc[-1:] == ("[key]",):
        message = f"key {short(loc[-2])} must be a name (text)"
        got = ""
    problems.add(loc, f"{field}: {message}{got}.")


__all__ = [
    "check_graph_data",
    "graph_document",
    "parse_graph",
    "read_yaml",
    "read_yaml_documents",
]
