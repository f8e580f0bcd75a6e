"""Where a partitioned model's inputs come from: a table, the inbox, or any function of the key.

Partitioned model assets are `model_asset(spec, partitions_def=..., partition_inputs=...)`
(`lume_assets.assets.model_assets`): a backfill over N partitions is one run and one batch call.
This module gives the `partition_inputs` functions: static keys from a table (`table_inputs`),
dynamic keys from the inbox file of that name (`inbox_inputs`, the new-input sensor's
partitions), and the sensor's validator of a model's inputs (`model_inputs_validator`).
"""

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
from dagster._core.storage.tags import PARTITION_NAME_TAG

from lume_assets.automation.inbox import DEFAULT_MAX_FILE_BYTES, parse_inputs, read_inbox_file
from lume_assets.automation.sensors import INPUT_SHA256_TAG
from lume_assets.errors import ModelInputError, SensorInputError
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


def inbox_inputs(
    inbox_dir: str | Path | Callable[[], Path], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> PartitionInputs:
    """Inputs of a dynamic partition from the inbox file named by its key (sensor partitions).

    `inbox_dir` may be a function, resolved at run time (e.g. from the current settings). Only a
    plain file directly inside the inbox is read (see `read_inbox_file`); any other key is
    refused. In a run the sensor requested, the file must still hold the content the sensor
    validated (its sha256 tag), else the run fails rather than evaluate other inputs.
    """

    def _inputs(key: str) -> Mapping[str, Any]:
        inbox = Path(inbox_dir() if callable(inbox_dir) else inbox_dir)
        try:
            data = read_inbox_file(inbox, key, max_file_bytes)
        except SensorInputError as exc:
            raise ModelInputError(f"partition {exc}") from None
        except FileNotFoundError:
            raise ModelInputError(
                f"partition {key!r}: its input file is gone from the inbox {inbox} (moved to "
                "rejected/ or deleted); re-deliver it or delete the partition."
            ) from None
        _check_sensor_sha256(key, data)
        try:
            return parse_inputs(key, data)
        except SensorInputError as exc:
            raise ModelInputError(f"partition {exc}") from None

    return _inputs


def _check_sensor_sha256(key: str, data: bytes) -> None:
    """Refuse file content other than what the sensor validated for this run (its sha256 tag)."""
    try:
        tags = dg.AssetExecutionContext.get().run.tags
    except Exception:  # noqa: BLE001 - not inside a run (direct call): nothing to compare
        return
    expected = tags.get(INPUT_SHA256_TAG)
    if expected is None or tags.get(PARTITION_NAME_TAG) != key:
        return
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelInputError(
            f"partition {key!r}: the input file changed after the sensor validated it (sha256 "
            f"{expected[:12]}…, now {actual[:12]}…); this run is refused, the new content gets "
            "its own run on the next sensor tick."
        )


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
