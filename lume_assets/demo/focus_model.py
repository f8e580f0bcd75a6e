"""A cheap model for fast-scan demos and benchmarks: a thin lens followed by a drift."""

import math

import numpy as np

from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import ScalarVariable


def focus(k: float, drift: float, emittance: float = 1e-6) -> dict[str, float]:
    """One point: focal length 1/k and the rms beam size after `drift` (beam waist at the lens)."""
    f = 1.0 / k
    beta = f * f / drift + drift
    return {"focal_length": f, "sigma": math.sqrt(beta * emittance)}


def focus_batch(k: np.ndarray, drift: np.ndarray, emittance: np.ndarray) -> dict[str, np.ndarray]:
    """The same model on columns of points: one vectorized call."""
    f = 1.0 / k
    beta = f * f / drift + drift
    return {"focal_length": f, "sigma": np.sqrt(beta * emittance)}


def make_focus_spec(batch: bool = True) -> ModelSpec:
    """The focus model spec (with its batch function unless `batch=False`)."""
    return ModelSpec(
        name="focus",
        version="1.0",
        description="Thin-lens focusing: focal length and rms size after a drift.",
        inputs=[
            ScalarVariable(name="k", value_range=(0.1, 10.0), units="1/m", default=1.0),
            ScalarVariable(name="drift", value_range=(0.1, 10.0), units="m", default=1.0),
            ScalarVariable(name="emittance", default=1e-6, value_range=(0.0, 1e-3), units="m"),
        ],
        outputs=[
            ScalarVariable(name="focal_length", units="m"),
            ScalarVariable(name="sigma", units="m"),
        ],
        function=focus,
        batch_function=focus_batch if batch else None,
    )


FOCUS = make_focus_spec()
