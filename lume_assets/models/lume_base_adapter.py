"""Serve a lume-base `LUMEModel` (lume-pyat, lume-cheetah, lume-bmad, ...) as a `ModelSpec`.

An evaluation is `reset()`, `set(inputs)`, `get(outputs)` on one model instance per process
(LUME models are stateful and not thread-safe: calls are serialized by a lock). Imported lazily
by `ModelSpec.from_lume`; needs the `lume` extra (lume-base).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from lume_assets.errors import ModelError, ModelOutputError
from lume_assets.models.lume_variables import VARIABLE_CLASSES, variables_from_dict
from lume_assets.models.model import ModelSpec

_FIELDS = ("read_only", "default_value", "value_range", "unit", "shape", "dtype")


def lume_variables(variables: Sequence[Any]) -> list[Any]:
    """Our variables for lume-base `Variable` objects (units, ranges, defaults, read-only)."""
    doc = {}
    for var in variables:
        # subclasses (e.g. lume-pyat's action variables) map to the lume-base class they extend
        cls = next(
            (c.__name__ for c in type(var).__mro__ if c.__name__ in VARIABLE_CLASSES),
            type(var).__name__,
        )
        data: dict[str, Any] = {"variable_class": cls}
        for field in _FIELDS:
            value = getattr(var, field, None)
            if value is not None:
                data[field] = _value(value) if field == "default_value" else value
        if "dtype" in data:
            data["dtype"] = str(np.dtype(str(data["dtype"]).replace("torch.", "")))
        doc[var.name] = data
    return variables_from_dict({"input_variables": doc}, where="LUME model").inputs


def distribution_version(obj: Any) -> str:
    """`<distribution>-<version>` of the installed package defining `obj`'s class."""
    top = type(obj).__module__.split(".")[0]
    for dist in importlib.metadata.packages_distributions().get(top, []):
        return f"{dist}-{importlib.metadata.version(dist)}"
    return f"{top}-0"


def construction_hash(model: Any, args: Mapping[str, Any] | None) -> str:
    """sha256 (12 hex) of the model class, its construction arguments and its variables."""
    digest = hashlib.sha256(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    digest.update(json.dumps(args or {}, sort_keys=True, default=repr).encode())
    for name, var in sorted(model.supported_variables.items()):
        digest.update(name.encode())
        digest.update(json.dumps(var.model_dump(), sort_keys=True, default=repr).encode())
    return digest.hexdigest()[:12]


class _PerProcess:
    """One model instance per process, built by `factory` on first use; calls are locked."""

    def __init__(self, factory: Callable[[], Any], first: Any) -> None:
        self.factory = factory
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.model = first

    def get(self) -> Any:
        """The model of this process (a forked or spawned worker builds its own)."""
        if self.pid != os.getpid():
            self.model, self.pid, self.lock = self.factory(), os.getpid(), threading.Lock()
        return self.model


def _value(value: Any) -> Any:
    """A LUME value as our models return it (numpy scalars to float, tensors to numpy)."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.shape == ():
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def spec_from_lume(
    model: Any,
    *,
    name: str,
    version: str | None = None,
    outputs: Sequence[str] | None = None,
    factory: Callable[[], Any] | None = None,
    args: Mapping[str, Any] | None = None,
    **fields: Any,
) -> ModelSpec:
    """A ModelSpec evaluating the lume-base `model` (or `factory(**args)` built per process)."""
    if model is None:
        if factory is None:
            raise ModelError("from_lume needs a LUMEModel instance or factory=; give one.")
        model = factory(**(args or {}))
    supported = getattr(model, "supported_variables", None)
    if not isinstance(supported, Mapping) or not all(
        callable(getattr(model, m, None)) for m in ("get", "set", "reset")
    ):
        raise ModelError(
            f"from_lume needs a lume-base LUMEModel (get/set/reset/supported_variables); "
            f"got {type(model).__name__}."
        )
    settable = [v for v in supported.values() if not v.read_only]
    wanted = (
        list(outputs) if outputs is not None else [n for n, v in supported.items() if v.read_only]
    )
    unknown = sorted(set(wanted) - set(supported))
    if unknown:
        raise ModelError(
            f"from_lume: outputs {unknown} are not variables of {type(model).__name__}; "
            f"its variables are {', '.join(supported)}."
        )
    in_vars = lume_variables(settable)
    out_vars = lume_variables([supported[n] for n in wanted])
    # Our names are identifiers; LUME's (PV-like) names are kept as aliases.
    in_names = {v.name: v.alias or v.name for v in in_vars}
    out_names = {v.alias or v.name: v.name for v in out_vars}
    rebuild = (lambda: factory(**(args or {}))) if factory is not None else (lambda: model)
    holder = _PerProcess(rebuild, model)

    def evaluate_lume(**inputs: Any) -> dict[str, Any]:
        instance = holder.get()
        with holder.lock:
            instance.reset()
            instance.set({in_names[k]: v for k, v in inputs.items()})
            got = instance.get(list(out_names))
        missing = sorted(set(out_names) - set(got))
        if missing:
            raise ModelOutputError(f"LUME model {name!r} did not return {missing}.")
        return {out_names[k]: _value(v) for k, v in got.items() if k in out_names}

    evaluate_lume.__qualname__ = f"from_lume.{type(model).__qualname__}"
    if version is None:
        version = f"{distribution_version(model)}+{construction_hash(model, args)}"
    fields.setdefault("description", (type(model).__doc__ or "").strip().split("\n")[0])
    return ModelSpec(
        name=name,
        version=version,
        inputs=in_vars,
        outputs=out_vars,
        function=evaluate_lume,
        **fields,
    )
