"""What a worker process of the `processes` chunk runner runs: one model, many chunks.

The pool's initializer receives the `ModelSpec` once (pickled by the standard library: its
functions travel by import reference, so they must be module-level functions); each task is one
chunk's uncached points and returns their outputs through `run_points`, the same call the
in-process runner makes, so the outputs are bit for bit the same. Dagster is not imported here.
"""

from __future__ import annotations

from typing import Any

from lume_assets.assets.evaluation import run_points
from lume_assets.models.model import ModelSpec

_SPEC: list[ModelSpec] = []  # the model this worker evaluates (set by `init_worker`)


def init_worker(spec: ModelSpec) -> None:
    """Pool initializer: remember the model this worker evaluates."""
    _SPEC[:] = [spec]


def evaluate_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluate one chunk's validated points with the worker's model."""
    return run_points(_SPEC[0], points)
