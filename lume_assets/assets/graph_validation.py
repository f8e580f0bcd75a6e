"""Check a `GraphSpec` against its models: names, mappings, types/shapes, required inputs, cycles.

`resolve_graph(spec, raw, source)` returns a `ResolvedGraph` — nodes in dependency order, each
with its `ModelSpec` (per-node overrides applied, fixed inputs as defaults) — or raises one
`GraphSpecError` listing every problem with its file, line, node and fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lume_assets.assets.graph_problems import Problems, short
from lume_assets.assets.graph_spec import GraphSpec, NodePartitions, NodeSpec, OutputRef
from lume_assets.assets.graph_yaml import line_of
from lume_assets.errors import ModelError
from lume_assets.models.catalogue import CATALOGUE, ModelCatalogue, did_you_mean
from lume_assets.models.model import ModelSpec
from lume_assets.models.model_refs import resolve_node_model
from lume_assets.models.variables import ARRAY_KINDS, with_units


@dataclass(frozen=True)
class ResolvedNode:
    """A validated node: its spec, its model (overrides applied) and its partitions."""

    spec: NodeSpec
    model: ModelSpec
    line: int
    partitions: NodePartitions | None = None
    own_partitions: bool = False

    @property
    def name(self) -> str:
        """The node name."""
        return self.spec.name

    @property
    def mappings(self) -> dict[str, OutputRef]:
        """input name -> upstream output."""
        return dict(self.spec.mappings)


@dataclass(frozen=True)
class ResolvedGraph:
    """A validated graph: nodes in dependency order (upstream first)."""

    spec: GraphSpec
    source: str
    nodes: list[ResolvedNode] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The graph name (key prefix and job)."""
        return self.spec.name

    @property
    def group(self) -> str:
        """The asset group: the graph's project, else its name."""
        return self.spec.project or self.spec.name

    def node(self, name: str) -> ResolvedNode:
        """The node called `name` (KeyError if absent)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)


# -- shapes and types ------------------------------------------------------------------------
Shape = tuple[int | None, ...] | None


def indexed_shape(shape: Shape, index: tuple[int | slice, ...]) -> Shape:
    """Shape after indexing an array of `shape` (None = unknown); ValueError if impossible."""
    if shape is None:
        return None
    if len(index) > len(shape):
        raise ValueError(
            f"the index has {len(index)} items but the output has {len(shape)} dimension(s)"
        )
    out: list[int | None] = []
    for dim, item in zip(shape, index, strict=False):
        if isinstance(item, slice):
            out.append(None if dim is None else len(range(dim)[item]))
        elif dim is not None and not -dim <= item < dim:
            raise ValueError(f"index {item} is out of bounds for a dimension of length {dim}")
    return (*out, *shape[len(index) :])


def _shape_text(shape: Shape) -> str:
    """A shape as text."""
    if shape is None:
        return "any shape"
    dims = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({dims}{',' if len(shape) == 1 else ''})"


def describe_kind(var: Any, shape: Shape = None, indexed: bool = False) -> str:
    """What a variable holds, e.g. 'a float64 array of shape (None,)', 'a scalar [mm]'."""
    if var.kind in ARRAY_KINDS:
        shape = shape if indexed else var.shape
        if shape == ():
            return f"a single {var.dtype} element"
        return f"a {var.dtype} {var.kind} of shape {_shape_text(shape)}"
    scalar = with_units("a scalar", getattr(var, "units", None))
    kinds = {"scalar": scalar, "text": "text", "file": "a file path"}
    return {**kinds, "particles": "a ParticleGroup"}.get(var.kind, var.kind)


def mapping_mismatch(out_var: Any, ref: OutputRef, in_var: Any) -> str | None:
    """Why `ref` (an output, maybe indexed) cannot feed `in_var`, or None if it can."""
    index = ref.index_tuple()
    shape: Shape = getattr(out_var, "shape", None)
    if index is not None:
        if out_var.kind not in ARRAY_KINDS:
            return (
                f"{ref.describe()} indexes {describe_kind(out_var)}; only array outputs can be "
                "indexed — remove the index"
            )
        try:
            shape = indexed_shape(shape, index)
        except ValueError as exc:
            return f"{ref.describe()}: {exc}; fix the index"
    got = describe_kind(out_var, shape, indexed=index is not None)
    want = describe_kind(in_var)
    base = f"type mismatch: {ref.describe()} is {got} but input {in_var.name!r} takes {want}"
    if in_var.kind == "scalar":
        if out_var.kind == "scalar":
            return None
        if out_var.kind in ARRAY_KINDS:
            dtype = np.dtype(out_var.dtype)
            if shape == () and dtype.kind in "iuf":
                return None
            if shape == ():
                return f"{base}; a scalar input needs an integer or float element"
            return f"{base}; pick one element with an index, e.g. {ref.node}.{ref.output}[0]"
        return f"{base}; map a scalar output"
    if in_var.kind in ARRAY_KINDS:
        if out_var.kind not in ARRAY_KINDS:
            return f"{base}; map an array output"
        if shape == ():
            return f"{base}; index a slice (e.g. '0:5') rather than one element"
        want_shape = in_var.shape
        if shape is not None and want_shape is not None:
            if len(shape) != len(want_shape):
                return (
                    f"shape mismatch: {ref.describe()} has {len(shape)} dimension(s) "
                    f"{_shape_text(shape)} but input {in_var.name!r} takes "
                    f"{len(want_shape)} {_shape_text(want_shape)}; index or map another output"
                )
            for got_dim, want_dim in zip(shape, want_shape, strict=True):
                if got_dim is not None and want_dim is not None and got_dim != want_dim:
                    return (
                        f"shape mismatch: {ref.describe()} has shape {_shape_text(shape)} but "
                        f"input {in_var.name!r} takes {_shape_text(want_shape)}; slice it or "
                        "map another output"
                    )
        if not np.can_cast(np.dtype(out_var.dtype), np.dtype(in_var.dtype), "same_kind"):
            return (
                f"dtype mismatch: {ref.describe()} holds {out_var.dtype} but input "
                f"{in_var.name!r} takes {in_var.dtype}, and {out_var.dtype} cannot be stored "
                f"as {in_var.dtype} without loss; map a {in_var.dtype} output"
            )
        return None
    if in_var.kind == "text":
        return None if out_var.kind in ("text", "file") and index is None else f"{base}"
    if in_var.kind == "file":  # a path: a file output, or any output stored as a managed file
        ok = out_var.kind in ("file", "array", "image", "text", "particles")
        return None if ok and index is None else f"{base}; map an output stored as a file"
    if in_var.kind == "particles":
        return None if out_var.kind == "particles" and index is None else f"{base}"
    return base


# -- resolution ------------------------------------------------------------------------------
def _value_problem(var: Any, value: Any) -> str | None:
    """Why `value` is not acceptable for input `var` (None if it is)."""
    try:
        var.validate_value(value, "input")
    except ModelError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - odd YAML values (dates, nested maps) in numpy
        return f"input {var.name!r} = {short(value)} is not usable: {type(exc).__name__}: {exc}"
    return None


def _as_default(var: Any, value: Any) -> Any:
    """A validated value in the form a variable's `default` field holds."""
    checked = var.validate_value(value, "input")
    return checked.tolist() if isinstance(checked, np.ndarray) else checked


def apply_overrides(model: ModelSpec, node: NodeSpec, defaults: dict[str, Any]) -> ModelSpec:
    """`model` with the node's resources/retry merged in and `defaults` as input defaults."""
    update: dict[str, Any] = {}
    if node.resources is not None:
        update["resources"] = model.resources.model_copy(
            update=node.resources.model_dump(exclude_unset=True)
        )
    if node.retry is not None:
        update["retry"] = model.retry.model_copy(update=node.retry.model_dump(exclude_unset=True))
    if defaults:
        update["inputs"] = [
            v.model_copy(update={"default": _as_default(v, defaults[v.name])})
            if v.name in defaults
            else v
            for v in model.inputs
        ]
    return model.model_copy(update=update) if update else model


class _Resolver:
    """One pass over a graph spec, recording every problem."""

    def __init__(self, spec: GraphSpec, raw: Any, source: str, catalogue: ModelCatalogue) -> None:
        self.spec = spec
        self.problems = Problems(source, raw)
        self.catalogue = catalogue
        self.index: dict[str, int] = {}
        for i, node in enumerate(spec.nodes):
            self.index.setdefault(node.name, i)
        self.models: dict[str, ModelSpec] = {}

    def resolve(self) -> ResolvedGraph:
        """Run every check; return the resolved graph or raise the collected problems."""
        self._names_and_models()
        for i, node in enumerate(self.spec.nodes):
            model = self.models.get(node.name)
            if model is not None and self.index[node.name] == i:
                self._node(i, node, model)
        order = self._order()
        partitions = self._partitions(order) if order is not None else {}
        self.problems.raise_if_any()
        assert order is not None
        nodes = []
        for name in order:
            i = self.index[name]
            node = self.spec.nodes[i]
            defaults = dict(node.inputs)
            if node.partitions is not None:
                defaults[node.partitions.input] = node.partitions.values[0]
            model = apply_overrides(self.models[name], node, defaults)
            if self.spec.project:  # the graph's project is its models' project
                model = model.model_copy(update={"project": self.spec.project})
            nodes.append(
                ResolvedNode(
                    spec=node,
                    model=model,
                    line=line_of(self.problems.raw, ("nodes", i)),
                    partitions=partitions.get(name),
                    own_partitions=node.partitions is not None,
                )
            )
        return ResolvedGraph(spec=self.spec, source=self.problems.source, nodes=nodes)

    # duplicate names, unknown models
    def _names_and_models(self) -> None:
        first: dict[str, int] = {}
        for i, node in enumerate(self.spec.nodes):
            if node.name in first:
                line = line_of(self.problems.raw, ("nodes", first[node.name]))
                self.problems.add(
                    ("nodes", i, "name"),
                    f"duplicate node name {node.name!r} (first used on line {line}); "
                    "give every node its own name.",
                )
                continue
            first[node.name] = i
            try:
                self.models[node.name] = resolve_node_model(
                    node.model, self.catalogue, self.problems.source
                )
            except ModelError as exc:
                self.problems.add(("nodes", i, "model"), str(exc))

    # inputs, mappings, partitions, required inputs
    def _node(self, i: int, node: NodeSpec, model: ModelSpec) -> None:
        add = self.problems.add
        inputs = model.input_map
        known = f"inputs of {model.name!r}: {', '.join(inputs) or '(none)'}"
        for name, value in node.inputs.items():
            if name not in inputs:
                add(
                    ("nodes", i, "inputs", name),
                    f"model {model.name!r} has no input {name!r}; {did_you_mean(name, inputs)}"
                    f"{known}.",
                )
                continue
            problem = _value_problem(inputs[name], value)
            if problem:
                add(("nodes", i, "inputs", name), f"fixed {problem}")
        for name, ref in node.mappings.items():
            path = ("nodes", i, "map", name)
            if name not in inputs:
                add(
                    path,
                    f"map: model {model.name!r} has no input {name!r}; "
                    f"{did_you_mean(name, inputs)}{known}.",
                )
                continue
            if name in node.inputs:
                add(path, f"input {name!r} is both fixed under 'inputs' and mapped; keep one.")
            self._mapping(path, node, ref, inputs[name])
        part = node.partitions
        if part is not None:
            path = ("nodes", i, "partitions", "input")
            if part.input not in inputs:
                add(
                    path,
                    f"partitions: model {model.name!r} has no input {part.input!r}; "
                    f"{did_you_mean(part.input, inputs)}{known}.",
                )
            elif part.input in node.inputs or part.input in node.mappings:
                add(
                    path,
                    f"partitions set input {part.input!r}, which is also fixed or mapped; "
                    "remove it from 'inputs'/'map'.",
                )
            else:
                for value in part.values:
                    problem = _value_problem(inputs[part.input], value)
                    if problem:
                        add(("nodes", i, "partitions", "values"), f"partition {problem}")
        given = {*node.inputs, *node.mappings, *([part.input] if part else [])}
        for var in model.inputs:
            if var.name in given or var.has_default:
                continue
            add(("nodes", i, "model"), self._unmapped_message(node, model, var))

    def _unmapped_message(self, node: NodeSpec, model: ModelSpec, var: Any) -> str:
        """A required-input message, suggesting upstream outputs of the same name."""
        candidates = [
            f"{other.name}.{var.name}"
            for other in self.spec.nodes
            if other.name != node.name
            and var.name in getattr(self.models.get(other.name), "output_map", {})
        ]
        example = candidates[0] if candidates else "<node>.<output>"
        return (
            f"required input {var.name!r} of model {model.name!r} ({describe_kind(var)}) is "
            "left unmapped: it has no default, no fixed value and no mapping; give it under "
            f"'inputs:' or map it, e.g. map: {{{var.name}: {example}}}."
        )

    def _mapping(self, path: tuple, node: NodeSpec, ref: OutputRef, in_var: Any) -> None:
        add = self.problems.add
        if ref.node not in self.index:
            names = list(self.index)
            add(
                path,
                f"map {in_var.name!r}: there is no node {ref.node!r} in graph "
                f"{self.spec.name!r}; {did_you_mean(ref.node, names)}nodes are: "
                f"{', '.join(names)}.",
            )
            return
        upstream = self.models.get(ref.node)
        if upstream is None:  # its model is unknown: reported there
            return
        outputs = upstream.output_map
        if ref.output not in outputs:
            add(
                path,
                f"map {in_var.name!r}: model {upstream.name!r} (node {ref.node!r}) has no output "
                f"{ref.output!r}; {did_you_mean(ref.output, outputs)}its outputs are: "
                f"{', '.join(outputs)}.",
            )
            return
        problem = mapping_mismatch(outputs[ref.output], ref, in_var)
        if problem:
            add(path, f"map {in_var.name!r}: {problem}.")

    # dependency order and cycles
    def _upstreams(self, name: str) -> list[str]:
        node = self.spec.nodes[self.index[name]]
        return [r.node for r in node.mappings.values() if r.node in self.index]

    def _order(self) -> list[str] | None:
        """Node names upstream-first, or None after reporting a cycle."""
        state: dict[str, int] = {}  # 1 visiting, 2 done
        order: list[str] = []
        stack: list[str] = []

        def visit(name: str) -> bool:
            state[name] = 1
            stack.append(name)
            for up in self._upstreams(name):
                if state.get(up) == 1:
                    cycle = [*stack[stack.index(up) :], up]
                    self._report_cycle(list(reversed(cycle)))
                    return False
                if state.get(up) is None and not visit(up):
                    return False
            stack.pop()
            state[name] = 2
            order.append(name)
            return True

        for node in self.spec.nodes:
            if state.get(node.name) is None and not visit(node.name):
                return None
        return order

    def _report_cycle(self, cycle: list[str]) -> None:
        """Report `cycle` (upstream → downstream → ... → first) at its first mapping."""
        first, second = cycle[0], cycle[1]
        node = self.spec.nodes[self.index[second]]
        input_name = next(k for k, r in node.mappings.items() if r.node == first)
        self.problems.add(
            ("nodes", self.index[second], "map", input_name),
            f"the graph has a cycle: {' → '.join(cycle)}; a node cannot depend on its own "
            "outputs — remove one of these mappings.",
        )

    # partitions flow downstream
    def _partitions(self, order: list[str]) -> dict[str, NodePartitions]:
        """Each node's partitions: its own, or those of its partitioned upstreams."""
        result: dict[str, NodePartitions] = {}
        for name in order:
            i = self.index[name]
            own = self.spec.nodes[i].partitions
            ups = {up: result[up] for up in self._upstreams(name) if up in result}
            keysets = {tuple(p.keys()) for p in ups.values()}
            if own is not None:
                result[name] = own
                clash = [u for u, p in ups.items() if tuple(p.keys()) != tuple(own.keys())]
                if clash:
                    self.problems.add(
                        ("nodes", i, "partitions"),
                        f"partitions {own.keys()} differ from those of upstream node(s) "
                        f"{', '.join(clash)} ({ups[clash[0]].keys()}); a node fed by a "
                        "partitioned node must use the same partition values (or none, to "
                        "inherit them).",
                    )
            elif len(keysets) > 1:
                self.problems.add(
                    ("nodes", i, "name"),
                    f"upstream nodes {', '.join(ups)} have different partitions; a node can "
                    "only inherit one set — partition them the same way.",
                )
            elif ups:
                result[name] = next(iter(ups.values()))
        return result


def resolve_graph(
    spec: GraphSpec, raw: Any, source: str, catalogue: ModelCatalogue | None = None
) -> ResolvedGraph:
    """Validate `spec` against the models of `catalogue`; GraphSpecError lists every problem."""
    return _Resolver(spec, raw, source, catalogue or CATALOGUE).resolve()


__all__ = [
    "ResolvedGraph",
    "ResolvedNode",
    "apply_overrides",
    "describe_kind",
    "indexed_shape",
    "mapping_mismatch",
    "resolve_graph",
]
