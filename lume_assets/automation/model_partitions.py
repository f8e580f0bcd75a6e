"""Partitioned model assets whose backfills are single runs: one batch call for a whole range.

`partitioned_model_asset(spec, partitions_def, partition_inputs)` has the same asset keys as
`model_asset` (`<model>/result` plus one file asset per array/text output) but is built for
ranges: with `BackfillPolicy.single_run()` a backfill over N partitions is ONE run that
validates every partition's inputs, evaluates the uncached ones in one call (the model's batch
function when it has one), and hands dicts keyed by partition to the result, HDF5 and text IO
managers, which write every partition (the result store with one `put_many`).

Partition inputs: static keys from a table (`table_inputs`), dynamic keys from the inbox file of
that name (`inbox_inputs`, the new-input sensor's partitions) or any function of the key (e.g.
of a time-window partition's date). With `requires_approval=True` results are stored
unpublished and the run stops at the approval gate.
"""

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pydantic
from dagster._core.storage.tags import PARTITION_NAME_TAG

from lume_assets.assets.model_assets import (
    FORCE_FIELD,
    IO_MANAGER_BY_KIND,
    RESULT_OUTPUT,
    build_config_class,
    file_outputs,
    model_result_key,
    retry_policy_of,
)
from lume_assets.assets.model_config import model_op_tags
from lume_assets.automation.gate import approval_metadata, hold_for_approval
from lume_assets.automation.inbox import DEFAULT_MAX_FILE_BYTES, parse_inputs, read_inbox_file
from lume_assets.automation.progress import Progress
from lume_assets.automation.provenance import planned_files
from lume_assets.automation.sensors import INPUT_SHA256_TAG
from lume_assets.errors import LumeError, ModelError, ModelInputError, SensorInputError
from lume_assets.models.model import ModelSpec
from lume_assets.storage.results import Provenance, Result, compute_inputs_hash

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
        return parse_inputs(key, data)

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


def partition_config_class(spec: ModelSpec, optional: bool) -> type[dg.Config]:
    """The model's run-config class; inputs without defaults become optional when `optional`
    (per-partition inputs supply them, and a backfill launches runs without run config)."""
    base = build_config_class(spec)
    if not optional:
        return base
    fields = {
        name: (
            field.annotation | None,
            pydantic.Field(default=None, description=field.description),
        )
        for name, field in base.model_fields.items()
        if field.is_required()
    }
    return pydantic.create_model(f"{base.__name__}ByPartition", __base__=base, **fields)


def _per_partition(keys: Sequence[str], values: Mapping[str, Any]) -> Any:
    """What an IO manager receives: the value itself for one partition, else a dict by key."""
    return values[keys[0]] if len(keys) == 1 else dict(values)


def partitioned_model_asset(
    spec: ModelSpec,
    partitions_def: dg.PartitionsDefinition,
    partition_inputs: PartitionInputs | None = None,
    *,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    requires_approval: bool = False,
    backfill_policy: dg.BackfillPolicy | None = None,
) -> dg.AssetsDefinition:
    """Build the range-capable partitioned multi-asset of `spec` (see the module docstring)."""
    prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix or [])
    result_key = model_result_key(spec, prefix)
    files = {v.name: v for v in file_outputs(spec)}
    keys = {RESULT_OUTPUT: result_key}
    keys.update({name: dg.AssetKey([*prefix, spec.name, name]) for name in files})
    config_class = partition_config_class(spec, optional=partition_inputs is not None)
    common = {"code_version": spec.version, "owners": list(spec.owners), "group_name": group_name}
    outs = {
        RESULT_OUTPUT: dg.AssetOut(
            key=result_key,
            io_manager_key="result_io_manager",
            description=f"{spec.description} — result record per partition.",
            metadata={
                "lume/model": spec.name,
                "lume/version": spec.version,
                "lume/requires_approval": requires_approval,
            },
            tags={"lume/kind": "result"},
            **common,
        )
    }
    for name, var in files.items():
        outs[name] = dg.AssetOut(
            key=keys[name],
            io_manager_key=IO_MANAGER_BY_KIND[var.kind],
            description=var.description or f"{var.kind} output {name!r} of {spec.name}",
            metadata={"lume/model": spec.name, "lume/output": name},
            tags={"lume/kind": var.kind},
            **common,
        )
    resource_keys = {"result_store"} | ({"approvals"} if requires_approval else set())

    def compute(context: dg.AssetExecutionContext, config: Any):  # noqa: ANN202
        part_keys = list(context.partition_keys)
        base = {k: v for k, v in config.model_dump().items() if k != FORCE_FIELD and v is not None}
        store = context.resources.result_store.get_store()
        progress = Progress(f"{spec.name} partitions", len(part_keys), emit=context.log.info)
        try:
            inputs = {
                k: spec.validate_inputs(
                    {**base, **(partition_inputs(k) if partition_inputs else {})}
                )
                for k in part_keys
            }
        except LumeError as exc:
            raise dg.Failure(description=f"{type(exc).__name__}: {exc}") from None
        hashes = {k: compute_inputs_hash(spec.name, spec.version, v) for k, v in inputs.items()}
        cached = {}
        if not config.force:
            for k, h in hashes.items():
                hit = store.find_one(h)
                if hit is not None:
                    cached[k] = hit
        todo = [k for k in part_keys if k not in cached]
        started = time.perf_counter()
        try:
            evaluated = spec.evaluate_batch([inputs[k] for k in todo]) if todo else []
        except (ModelError, LumeError) as exc:
            raise dg.Failure(description=f"{type(exc).__name__}: {exc}") from None
        paths = {
            name: planned_files(context, IO_MANAGER_BY_KIND[var.kind], keys[name], todo)
            for name, var in files.items()
        }
        results: dict[str, Result] = {}
        outputs: dict[str, dict[str, Any]] = {}
        for k, out in zip(todo, evaluated, strict=True):
            outputs[k] = out
            results[k] = Result(
                model=spec.name,
                version=spec.version,
                inputs=inputs[k],
                outputs=out,
                inputs_hash=hashes[k],
                published=not requires_approval,
                provenance=Provenance(
                    run_id=context.run.run_id,
                    asset_key=result_key.to_user_string(),
                    partition_key=k,
                    code_sha=spec.source_sha256(),
                    files={name: paths[name][k] for name in files if k in paths[name]},
                ),
            )
        for k, hit in cached.items():
            results[k] = hit
            outputs[k] = spec.validate_outputs(hit.outputs)
        progress.advance(len(part_keys))
        meta: dict[str, Any] = {
            "partitions": dg.MetadataValue.int(len(part_keys)),
            "evaluated": dg.MetadataValue.int(len(todo)),
            "cache_hits": dg.MetadataValue.int(len(cached)),
            "batch_call": dg.MetadataValue.bool(spec.batch_function is not None),
            "seconds": dg.MetadataValue.float(round(time.perf_counter() - started, 6)),
            "inputs_hashes": dg.MetadataValue.json({k: hashes[k] for k in part_keys[:100]}),
        }
        if requires_approval:
            held = [results[k].inputs_hash for k in todo]
            approval = hold_for_approval(
                context,
                context.resources.approvals.get_store(),
                held,
                gate=result_key.to_user_string(),
                model=spec.name,
            )
            meta.update(approval_metadata(approval))
        yield dg.Output(
            _per_partition(part_keys, {k: results[k] for k in part_keys}),
            output_name=RESULT_OUTPUT,
            metadata=meta,
        )
        for name in files:
            yield dg.Output(
                _per_partition(part_keys, {k: outputs[k][name] for k in part_keys}),
                output_name=name,
                metadata={"partitions": dg.MetadataValue.int(len(part_keys))},
            )

    compute.__annotations__ = {"context": dg.AssetExecutionContext, "config": config_class}
    compute.__name__ = spec.name
    compute.__doc__ = spec.description or f"Evaluate {spec.name} on every partition of a range."
    return dg.multi_asset(
        name="__".join([*prefix, spec.name]),
        outs=outs,
        required_resource_keys=resource_keys,
        retry_policy=retry_policy_of(spec),
        op_tags=model_op_tags(spec),
        partitions_def=partitions_def,
        backfill_policy=backfill_policy or dg.BackfillPolicy.single_run(),
        description=spec.description,
    )(compute)
