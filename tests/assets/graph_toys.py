"""Small real models for graph-spec tests: every variable kind, fixed and free shapes, dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np

from lume_assets.models.catalogue import ModelCatalogue
from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import (
    ArrayVariable,
    FileVariable,
    ScalarVariable,
    TextVariable,
)


def produce(x: float) -> dict[str, Any]:
    """Outputs of every kind derived from x."""
    return {
        "value": 2.0 * x,
        "vec": np.linspace(0.0, x, 7),
        "mat": np.full((4, 3), x),
        "ints": np.arange(4, dtype=np.int64),
        "flags": np.array([True, False]),
        "label": f"x={x}",
        "path": __file__,
    }


PRODUCER = ModelSpec(
    name="producer",
    version="1",
    inputs=[ScalarVariable(name="x", default=1.0, value_range=(0.0, 10.0))],
    outputs=[
        ScalarVariable(name="value"),
        ArrayVariable(name="vec", shape=(None,)),
        ArrayVariable(name="mat", shape=(None, 3)),
        ArrayVariable(name="ints", shape=(4,), dtype="int64"),
        ArrayVariable(name="flags", shape=(2,), dtype="bool"),
        TextVariable(name="label"),
        FileVariable(name="path"),
    ],
    function=produce,
)


def consume(**inputs: Any) -> dict[str, Any]:
    """Sum of everything numeric it was given."""
    total = sum(float(np.sum(v)) for v in inputs.values() if not isinstance(v, str))
    return {"total": total}


CONSUMER = ModelSpec(
    name="consumer",
    version="1",
    inputs=[
        ScalarVariable(name="a", value_range=(-100.0, 100.0)),
        ScalarVariable(name="b", default=0.0),
        ArrayVariable(name="v", shape=(None,)),
        ArrayVariable(name="v3", shape=(3,), default=[0.0, 0.0, 0.0]),
        ArrayVariable(name="m", shape=(None, 3), default=[[0.0, 0.0, 0.0]]),
        ArrayVariable(name="iv", shape=(None,), dtype="int32", default=[0]),
        TextVariable(name="note", default=""),
        FileVariable(name="deck", default=__file__),
    ],
    outputs=[ScalarVariable(name="total")],
    function=consume,
)


def relay(a: float) -> dict[str, Any]:
    """Pass a scalar through."""
    return {"out": a}


RELAY = ModelSpec(
    name="relay",
    version="1",
    inputs=[ScalarVariable(name="a", default=0.0)],
    outputs=[ScalarVariable(name="out")],
    function=relay,
)

NOT_A_SPEC = {"name": "producer"}

#: A graph whose first node is partitioned over its input x; the second inherits.
PARTITIONED = """\
name: g
nodes:
  - name: prod
    model: producer
    partitions: {input: x, values: [1.0, 2.5]}
  - name: cons
    model: consumer
    map: {a: prod.value, v: prod.vec}
"""


def toy_catalogue() -> ModelCatalogue:
    """A catalogue of the toy models (plus the installed ones, the demo's among them)."""
    return ModelCatalogue([PRODUCER, CONSUMER, RELAY], entry_points=True)
