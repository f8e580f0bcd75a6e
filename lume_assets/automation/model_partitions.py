"""Where a partitioned model's inputs come from: a table, the inbox, or any function of the key.

Partitioned model assets are `model_asset(spec, partitions_def=..., partition_inputs=...)`
(`lume_assets.assets.model_assets`): a backfill over N partitions is one run and one batch call.
This module gives the `partition_inputs` functions: static keys from a table (`table_inputs`),
dynamic keys from the inbox file of that name (`inbox_inputs`, the new-input sensor's
partitions), and the sensor's validator of a model's inputs (`model_inputs_validator`).
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lume_assets.automation.inbox import parse_inputs
from lume_assets.errors import ModelInputError
from lume_assets.models.model import ModelSpec

PartitionInputs = Callable[[str], Mapping[str, Any]]


def table_inputs(table: Mapping[str, Mapping[str, Any]]) -> PartitionInputs:
    """Inputs of static partitions from a table {partition key: inputs}."""

    def _inputs(key: str) -> Mapping[str, Any]:
        try:
            return table[key]
        except KeyError:
            raise ModelInputError(f"partition {key!r} has no row in the inputs table") from None

    return _inputs


def inbox_inputs(inbox_dir: str | Path | Callable[[], Path]) -> PartitionInputs:
    """Inputs of a dynamic partition from the inbox file named by its key (sensor partitions).

    `inbox_dir` may be a function, resolved at run time (e.g. from the current settings).
    """

    def _inputs(key: str) -> Mapping[str, Any]:
        path = Path(inbox_dir() if callable(inbox_dir) else inbox_dir) / key
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelInputError(
                f"partition {key!r}: its input file {path} is gone (moved to rejected/ or "
                "deleted); re-deliver it or delete the partition."
            ) from None
        return parse_inputs(key, data)

    return _inputs


def json_ready(value: Any) -> Any:
    """Return `value` with numpy arrays/scalars as lists/Python numbers (for run config)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: json_ready(v) for k, v in value.items()}
    return value


def model_inputs_validator(spec: ModelSpec) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A new-input sensor validator: the model's own input checks, JSON-ready values out."""

    def _validate(data: dict[str, Any]) -> dict[str, Any]:
        return json_ready(spec.validate_inputs(data))

    return _validate
