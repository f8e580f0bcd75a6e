"""Read asset graph files: one YAML file, a text, or every `*.yaml`/`*.yml` in a folder.

`load_graph(path)` parses, schema-checks and validates a graph against the model catalogue and
returns a `ResolvedGraph`; every failure is one `GraphSpecError` naming file, line, node and fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lume_assets.assets.graph_parse import check_graph_data, parse_graph
from lume_assets.assets.graph_validation import ResolvedGraph, resolve_graph
from lume_assets.errors import GraphSpecError
from lume_assets.models.catalogue import ModelCatalogue

GRAPH_SUFFIXES = (".yaml", ".yml")


def load_graph_text(
    text: str,
    source: str = "<string>",
    catalogue: ModelCatalogue | None = None,
    *,
    document: int = 0,
) -> ResolvedGraph:
    """Parse and validate graph YAML `text` (`source` names it in messages): a plain graph or a
    `defs.yaml` ModelGraph component (document number `document` of the file)."""
    spec, raw = parse_graph(text, source, document)
    return resolve_graph(spec, raw, source, catalogue)


def graph_from_dict(
    data: dict[str, Any], source: str = "<python>", catalogue: ModelCatalogue | None = None
) -> ResolvedGraph:
    """Validate a graph declared in Python as a dict of the YAML's shape."""
    spec, raw = check_graph_data(data, source)
    return resolve_graph(spec, raw, source, catalogue)


def load_graph(path: str | Path, catalogue: ModelCatalogue | None = None) -> ResolvedGraph:
    """Read, parse and validate the graph file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GraphSpecError(f"asset graph file {path} does not exist; check the path.") from None
    except IsADirectoryError:
        raise GraphSpecError(f"{path} is a folder; give a graph .yaml file.") from None
    except UnicodeDecodeError as exc:
        raise GraphSpecError(
            f"asset graph file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8."
        ) from None
    except OSError as exc:
        raise GraphSpecError(f"cannot read asset graph file {path}: {exc.strerror}.") from None
    return load_graph_text(text, str(path), catalogue)


def graph_files(folders: Iterable[str | Path]) -> list[Path]:
    """Every graph file (`*.yaml`, `*.yml`) directly inside `folders`, then every
    `<sub-folder>/defs.yaml` (a defs folder of ModelGraph components), sorted per folder."""
    files: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise GraphSpecError(
                f"graphs folder {folder} does not exist or is not a folder; create it or fix "
                "LUME_GRAPHS_DIR."
            )
        files.extend(sorted(p for p in folder.iterdir() if p.suffix in GRAPH_SUFFIXES))
        files.extend(sorted(p for p in folder.glob("*/defs.yaml") if p.is_file()))
    return files


def load_graphs(
    folders: Iterable[str | Path], catalogue: ModelCatalogue | None = None
) -> list[ResolvedGraph]:
    """Load every graph in `folders`; graph names must be unique across them."""
    graphs: list[ResolvedGraph] = []
    seen: dict[str, str] = {}
    for path in graph_files(folders):
        graph = load_graph(path, catalogue)
        if graph.name in seen:
            raise GraphSpecError(
                f"invalid asset graph: {path}:1: graph name {graph.name!r} is already used by "
                f"{seen[graph.name]}; graph names become key prefixes and jobs and must be "
                "unique — rename one."
            )
        seen[graph.name] = str(path)
        graphs.append(graph)
    return graphs


__all__ = [
    "graph_files",
    "graph_from_dict",
    "load_graph",
    "load_graph_text",
    "load_graphs",
]
