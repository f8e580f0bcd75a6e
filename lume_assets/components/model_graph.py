"""`lume_assets.ModelGraph`: a YAML model graph as a Dagster Component.

```yaml
# defs/beam_chain/defs.yaml
type: lume_assets.ModelGraph
attributes:
  name: beam_chain
  nodes:
    - {name: sim, model: beam_envelope, inputs: {k_f: 2.2}}
```

The attributes are today's graph spec (`name`, `nodes`, `map`, `schedules`, ...). Dagster only
hands them over; our own validation runs on them, re-read from `defs.yaml` with line tracking,
so every problem is reported at once as `defs.yaml:LINE: node 'x': ...; fix` in one
`GraphSpecError`. `build_defs` gives the graph's assets, its `<graph>_job` and its schedules —
the same keys and jobs as `load_asset_graph` on a plain graph file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import BaseModel, ConfigDict

from lume_assets.assets.graph_assets import AssetGraph, build_asset_graph
from lume_assets.assets.graph_loader import graph_from_dict, load_graph_text
from lume_assets.assets.graph_parse import read_yaml_documents


class ModelGraphAttributes(BaseModel):
    """The attributes of a ModelGraph: a graph spec (validated by lume_assets, with lines)."""

    model_config = ConfigDict(extra="allow")


def graph_definitions(graph: AssetGraph) -> dg.Definitions:
    """A graph's assets, its `<graph>_job` (if any) and its `schedules:` as Definitions."""
    from lume_assets.assets.graph_assets import graph_job
    from lume_assets.automation.schedules import graph_schedules

    job = graph_job(graph)
    schedules = graph_schedules(graph.graph.spec.schedules, job or graph.assets)
    return dg.Definitions(
        assets=graph.assets, jobs=[job] if job is not None else [], schedules=schedules
    )


def _document_text(path: Path, name: Any) -> tuple[str, int] | None:
    """(defs.yaml text, index of the ModelGraph document named `name`) when it can be found."""
    file = path / "defs.yaml" if path.is_dir() else path
    try:
        text = file.read_text(encoding="utf-8")
    except OSError:
        return None
    for index, doc in enumerate(read_yaml_documents(text, str(file))):
        attrs = doc.get("attributes") if isinstance(doc, dict) else None
        if isinstance(attrs, dict) and attrs.get("name") == name:
            return text, index
    return None


class ModelGraph(dg.Component):
    """A graph of lume_assets models from YAML: each node a model, outputs mapped to inputs.

    Attributes: `name` (asset group and key prefix), optional `project` (the asset group
    instead, the models' project and the results' store project), `nodes` (each `name`, `model` — a
    registered model name or 'package.module:SPEC' — `inputs`, `map`, `resources`, `retry`,
    `partitions`) and optional `schedules`. Problems are reported as `GraphSpecError` with
    `defs.yaml:LINE` for each.
    """

    def __init__(self, graph: AssetGraph) -> None:
        """Wrap a validated, built asset graph."""
        self.graph = graph

    @classmethod
    def get_model_cls(cls) -> type[BaseModel]:
        """Attributes pass through to lume_assets' own validation (located messages)."""
        return ModelGraphAttributes

    @classmethod
    def load(cls, attributes: BaseModel | None, context: dg.ComponentLoadContext) -> ModelGraph:
        """Validate the attributes where they are written (file:line) and build the graph."""
        data = attributes.model_dump() if attributes is not None else {}
        path = Path(context.path)
        found = _document_text(path, data.get("name"))
        source = str(path / "defs.yaml" if path.is_dir() else path)
        if found is not None:
            text, index = found
            graph = load_graph_text(text, source, document=index)
        else:
            graph = graph_from_dict(data, source)
        return cls(build_asset_graph(graph))

    @classmethod
    def from_file(cls, path: str | Path) -> ModelGraph:
        """Load the (first) ModelGraph of a `defs.yaml` file outside a project."""
        path = Path(path)
        return cls(build_asset_graph(load_graph_text(path.read_text("utf-8"), str(path))))

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """The graph's assets, job and schedules."""
        from lume_assets.serving import graph_models, serve

        serve(graph_models([self.graph]))
        return graph_definitions(self.graph)


__all__ = ["ModelGraph", "ModelGraphAttributes", "graph_definitions"]
