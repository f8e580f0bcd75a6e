"""Resolve the `model:` value of an asset-graph node to a ModelSpec.

A string is a catalogue name or `package.module:SPEC`; `{lume_torch: path}` is a lume-torch
model YAML (with its `.pt` files) relative to the graph file's folder, loaded lazily (the
`torch` extra) and never outside that folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lume_assets.errors import ModelError
from lume_assets.models.catalogue import ModelCatalogue
from lume_assets.models.model import ModelSpec


def graph_folder(source: str) -> Path:
    """The folder relative paths of a graph are resolved in (the cwd for a text graph)."""
    path = Path(source)
    return path.parent.resolve() if path.is_file() else Path.cwd().resolve()


def resolve_node_model(ref: Any, catalogue: ModelCatalogue, source: str) -> ModelSpec:
    """The ModelSpec a node's `model:` value names (ModelError saying why not)."""
    if isinstance(ref, str):
        return catalogue.resolve(ref)
    rel = getattr(ref, "lume_torch", None)
    if rel is None:
        raise ModelError(f"model {ref!r} is neither a model name nor {{lume_torch: path}}.")
    root = graph_folder(source)
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        raise ModelError(
            f"lume_torch path {rel!r} leaves the graph's folder {root}; keep the model files "
            "beside the graph."
        )
    if not path.is_file():
        raise ModelError(f"lume_torch model file {rel!r} does not exist in {root}; check the path.")
    try:
        import lume_torch  # noqa: F401
    except ImportError:
        raise ModelError(
            "model {lume_torch: ...} needs the torch extra: pip install 'lume_assets[torch]'."
        ) from None
    return ModelSpec.from_lume_torch(path)
