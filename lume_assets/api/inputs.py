"""Inputs checked before any run exists: the same one-line refusals for local runs, remote
runs and cache hits answered from the result store (`api.cache_hits`). No Dagster here."""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lume_assets.api.records import ModelInfo, VariableInfo
from lume_assets.errors import ModelInputError
from lume_assets.models.catalogue import did_you_mean


def config_value(value: Any) -> Any:
    """A validated input value as run config (plain JSON types)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_inputs(info: ModelInfo, inputs: Any) -> dict[str, Any]:
    """Refuse inputs `info`'s model cannot take, before any run exists (one-line ModelInputError).

    The same checks run for local and remote runs: a dict with string names, known inputs
    (with a "did you mean"), no nulls, and each value checked against the variable's declaration
    (type, range; NaN, complex, bool and oversized integers refused where a float is declared).
    """
    if not isinstance(inputs, Mapping):
        raise ModelInputError(
            f"inputs of model {info.name!r} must be a dict of name: value, "
            f"not {type(inputs).__name__}."
        )
    for name in inputs:
        if not isinstance(name, str):
            raise ModelInputError(
                f"input names of model {info.name!r} must be strings; "
                f"got {type(name).__name__} {str(name)[:40]!r}."
            )
    check_known_inputs(info, inputs)
    for name, value in inputs.items():
        if value is None:
            raise ModelInputError(
                f"input {name!r} is null; give a value, or leave it out to use its default."
            )
    variables = declared_variables(info.inputs) if info.inputs else None
    if variables is not None:
        from lume_assets.models.variables import validate_values

        validate_values(variables, inputs, "input")
    return dict(inputs)


def declared_variables(variables: Sequence[VariableInfo]) -> list[Any] | None:
    """The model variables (`lume_assets.models.variables`) rebuilt from their declarations in
    `VariableInfo.spec`, or None when one has none (e.g. an array default that is not JSON)."""
    if not all(v.spec for v in variables):
        return None
    from pydantic import TypeAdapter

    from lume_assets.models.variables import Variable

    adapter: TypeAdapter[Any] = TypeAdapter(Variable)
    return [adapter.validate_python(v.spec) for v in variables]


def check_known_inputs(info: ModelInfo, inputs: Mapping[str, Any]) -> None:
    """Raise ModelInputError naming any input `info`'s model does not take, and the ones it does."""
    unknown = sorted(set(inputs) - {v.name for v in info.inputs})
    if unknown:
        hint = did_you_mean(unknown[0], [v.name for v in info.inputs]) if len(unknown) == 1 else ""
        raise ModelInputError(
            f"unknown input(s) {', '.join(map(repr, unknown))} of model {info.name!r}; "
            f"{hint}inputs are "
            f"{', '.join(v.name for v in info.inputs)}."
        )
