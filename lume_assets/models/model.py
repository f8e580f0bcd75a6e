"""`ModelSpec`: a scientist's model — its variables, the evaluate callable, resources and policies.

`spec.evaluate(inputs)` validates the inputs (type, range, shape) before the callable runs, runs
it (under the evaluation timeout, if any) and validates the outputs after.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lume_assets.errors import ModelError, ModelOutputError, ModelTimeoutError
from lume_assets.models.lume_variables import load_variables
from lume_assets.models.variables import (
    ARRAY_KINDS,
    ScalarVariable,
    Variable,
    check_unique,
    validate_values,
)

#: `fn(**inputs) -> {output name: value}`
EvaluateFn = Callable[..., Mapping[str, Any]]
#: `fn(**{input name: 1-D array of N values}) -> {output name: sequence of N values}`
BatchEvaluateFn = Callable[..., Mapping[str, Any]]
#: `fn(inputs, outputs) -> matplotlib Figure`
PlotFn = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]


class ModelResources(BaseModel):
    """Compute a model needs when launched in a container (Docker / Kubernetes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu: str | None = Field(default=None, description="CPU request, e.g. '500m' or '2'.")
    memory: str | None = Field(default=None, description="Memory request, e.g. '512Mi'.")
    image: str | None = Field(default=None, description="Container image running the model.")
    node_selector: dict[str, str] = Field(default_factory=dict)

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(
            r"[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?", value
        ):
            raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. '500m', '2', '1Gi')")
        return value


class RetrySpec(BaseModel):
    """How often a failed evaluation is retried, and how long to wait between attempts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_retries: int = Field(default=0, ge=0, le=100)
    delay: float = Field(default=0.0, ge=0.0, description="Seconds before the first retry.")
    backoff: Literal["linear", "exponential"] | None = None


class ModelSpec(BaseModel):
    """A model: identity, input/output variables, the evaluate callable and its policies."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Asset-safe identifier.")
    version: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.+\-]+$")
    description: str = ""
    inputs: list[Variable] = Field(default_factory=list)
    outputs: list[Variable] = Field(min_length=1)
    function: EvaluateFn
    batch_function: BatchEvaluateFn | None = None
    plot: PlotFn | None = None
    resources: ModelResources = Field(default_factory=ModelResources)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    timeout: float | None = Field(default=None, gt=0, description="Evaluation timeout, seconds.")
    owners: list[str] = Field(default_factory=list)
    project: str | None = None
    author: str = "unknown"
    laboratory: str = ""
    facility: str = ""
    beampath: str = ""

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        check_unique(self.inputs, "input")  # type: ignore[arg-type]
        check_unique(self.outputs, "output")  # type: ignore[arg-type]
        if not callable(self.function):
            raise ValueError("function must be callable")
        return self

    @classmethod
    def from_variables_file(cls, path: str | Path, **fields: Any) -> ModelSpec:
        """Build a spec whose inputs/outputs come from a LUME `variables.yml`."""
        variables = load_variables(path)
        return cls(inputs=variables.inputs, outputs=variables.outputs, **fields)

    @classmethod
    def from_lume(cls, model: Any = None, *, name: str, **options: Any) -> ModelSpec:
        """Serve a lume-base `LUMEModel`: settable variables in, the rest (or `outputs=`) out.

        Options: `version` (default: the model's distribution version + a hash of its
        construction), `outputs`, `factory`/`args` (build one instance per process), and any
        ModelSpec field. Needs the `lume` extra.
        """
        from lume_assets.models.lume_base_adapter import spec_from_lume

        return spec_from_lume(model, name=name, **options)

    @classmethod
    def from_lume_torch(cls, model_or_yaml: Any, **options: Any) -> ModelSpec:
        """Serve a lume-torch model (or its model YAML + `.pt` files), batched; `torch` extra."""
        from lume_assets.models.lume_torch_adapter import spec_from_lume_torch

        return spec_from_lume_torch(model_or_yaml, **options)

    # -- lookups ---------------------------------------------------------------------------------
    @property
    def input_map(self) -> dict[str, Any]:
        """Input variables by name."""
        return {v.name: v for v in self.inputs}

    @property
    def output_map(self) -> dict[str, Any]:
        """Output variables by name."""
        return {v.name: v for v in self.outputs}

    def outputs_of_kind(self, *kinds: str) -> list[Any]:
        """Output variables whose kind is one of `kinds`."""
        return [v for v in self.outputs if v.kind in kinds]

    def default_inputs(self) -> dict[str, Any]:
        """Inputs that have defaults, validated."""
        return {v.name: v.validate_value(v.default) for v in self.inputs if v.has_default}

    @property
    def import_path(self) -> str:
        """`module:qualname` of the evaluate callable."""
        fn = self.function
        return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"

    def source_sha256(self) -> str:
        """sha256 of the evaluate (and batch) callables' source, for the registry."""
        digest = hashlib.sha256()
        for fn in (self.function, self.batch_function):
            if fn is None:
                continue
            try:
                digest.update(inspect.getsource(fn).encode())
            except (OSError, TypeError):  # builtins, C functions, lambdas in a REPL
                digest.update(self.import_path.encode())
        return digest.hexdigest()

    # -- evaluation ------------------------------------------------------------------------------
    def validate_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Return the inputs validated and completed with defaults (ModelInputError if not)."""
        return validate_values(self.inputs, inputs, "input")  # type: ignore[arg-type]

    def validate_outputs(self, outputs: Any) -> dict[str, Any]:
        """Return the outputs checked for names, types, shapes and dtypes (ModelOutputError).

        Declared output ranges are not enforced here: `out_of_range_outputs` reports them (the
        asset check), so a physically suspect result is kept and flagged rather than lost.
        """
        if not isinstance(outputs, Mapping):
            raise ModelOutputError(
                f"model {self.name!r} returned {type(outputs).__name__}; it must return a dict "
                f"of its outputs {', '.join(self.output_map)}."
            )
        return validate_values(
            self.outputs,  # type: ignore[arg-type]
            outputs,
            "output",
            fill_defaults=False,
            check_range=False,
        )

    def evaluate(self, inputs: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Validate inputs, run the model under its timeout, validate and return its outputs."""
        checked = self.validate_inputs({**(inputs or {}), **kwargs})
        raw = self._call(self.function, checked)
        return self.validate_outputs(raw)

    def evaluate_batch(self, points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Evaluate many input points: one vectorized call if the model has one, else a loop."""
        return self.evaluate_checked([self.validate_inputs(p) for p in points])

    def evaluate_checked(
        self, checked: Sequence[dict[str, Any]], batch: bool = True
    ) -> list[dict[str, Any]]:
        """Evaluate points already validated by `validate_inputs`: one batch call if the model
        has one (and `batch`), else one call per point; outputs validated."""
        if not batch or self.batch_function is None or not checked:
            return [self.validate_outputs(self._call(self.function, c)) for c in checked]
        columns = {name: np.asarray([c[name] for c in checked]) for name in self.input_map}
        raw = self._call(self.batch_function, columns)
        if not isinstance(raw, Mapping):
            raise ModelOutputError(
                f"batch function of {self.name!r} returned {type(raw).__name__}, not a dict."
            )
        columns_out = self._scalar_output_columns(raw, len(checked))
        if columns_out is not None:
            names = list(columns_out)
            return [
                dict(zip(names, row, strict=True))
                for row in zip(*columns_out.values(), strict=True)
            ]
        results = []
        for i in range(len(checked)):
            try:
                point = {name: values[i] for name, values in raw.items()}
            except (IndexError, TypeError) as exc:
                raise ModelOutputError(
                    f"batch function of {self.name!r} must return one value per point "
                    f"({len(checked)}) for every output: {exc}"
                ) from None
            results.append(self.validate_outputs(point))
        return results

    def _scalar_output_columns(self, raw: Mapping[str, Any], n: int) -> dict[str, list] | None:
        """A batch's scalar outputs validated per column, as `validate_outputs` per point.

        Only when every output is a scalar and the batch returned exactly those names, each
        a 1-D float or integer numpy array (at most 64 bits) of `n` finite values: per point
        each value would become `float(value)`, the same float64 as the column's `astype`.
        None otherwise (then every point is validated on its own, with its own message).
        """
        if set(raw) != set(self.output_map) or any(
            v.kind != "scalar" or v.is_constant for v in self.outputs
        ):
            return None
        out: dict[str, list] = {}
        for var in self.outputs:
            values = raw[var.name]
            if (
                not isinstance(values, np.ndarray)
                or values.shape != (n,)
                or values.dtype.kind not in "fiu"
                or values.dtype.itemsize > 8
            ):
                return None
            column = values.astype(np.float64)
            if not np.isfinite(column).all():
                return None
            out[var.name] = column.tolist()
        return out

    def _call(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Call `fn(**kwargs)`; enforce the timeout by running it in a worker thread."""
        if self.timeout is None:
            return fn(**kwargs)
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn(**kwargs)
            except BaseException as exc:  # re-raised in the caller's thread
                box["error"] = exc

        # A daemon thread: if the model overruns it is abandoned (Python cannot kill a thread);
        # the run fails now and the process exits normally.
        worker = threading.Thread(target=target, name=f"lume-model-{self.name}", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            raise ModelTimeoutError(
                f"model {self.name!r} v{self.version} ran longer than its timeout of "
                f"{self.timeout:g} s; raise `timeout` in its ModelSpec or speed up the model."
            )
        if "error" in box:
            raise box["error"]
        return box["value"]

    # -- range checks on outputs (used by asset checks) ------------------------------------------
    def out_of_range_outputs(self, outputs: Mapping[str, Any]) -> list[str]:
        """Return a message per output that violates its declared range/shape ([] if all ok)."""
        problems = []
        for var in self.outputs:
            if var.name not in outputs:
                problems.append(f"output {var.name!r} is missing")
                continue
            try:
                var.validate_value(outputs[var.name], "output")
            except ModelError as exc:
                problems.append(str(exc))
        return problems


def scalar_inputs(spec: ModelSpec) -> list[ScalarVariable]:
    """The spec's scalar input variables."""
    return [v for v in spec.inputs if isinstance(v, ScalarVariable)]


def is_array_kind(var: Any) -> bool:
    """Whether a variable's values are numpy arrays (array or image)."""
    return var.kind in ARRAY_KINDS


__all__ = [
    "ModelResources",
    "ModelSpec",
    "RetrySpec",
    "is_array_kind",
    "scalar_inputs",
]
