"""`model_asset(spec)`: a ModelSpec as Dagster assets with validated config, routed outputs,
a result cache, provenance and an output-range asset check.

One multi-asset per model, keyed `[*key_prefix, <model name>, <output>]`:

- `<model>/result` — the `Result` record (inputs, every output, inputs hash, provenance with the
  deployment id and the files below) through the "result_io_manager" into the result store. It
  is the cache: the next materialization with the same (model, version, inputs) reuses it.
- `<model>/<array output>` — each array/image output as an HDF5 file ("hdf5_io_manager").
- `<model>/<text output>` — each text output as a text file ("text_io_manager").

Scalar and file-path outputs live in the result record. The model's input variables become the
run config (a Dagster `Config`, shown with defaults in the launchpad) plus a `force` flag.
"""

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dagster as dg
import numpy as np

from lume_assets.assets.model_config import (
    FORCE_FIELD,
    build_config_class,
    model_op_tags,
    retry_policy_of,
)
from lume_assets.assets.model_display import OUTPUT_KINDS, results_store_kind, variables_metadata
from lume_assets.assets.model_keys import (
    IO_MANAGER_BY_KIND,
    RESULT_OUTPUT,
    FromOutput,
    Upstream,
    file_outputs,
    model_output_key,
    model_result_key,
    output_binding,
    prefix_parts,
)
from lume_assets.assets.model_metadata import (
    file_value,
    io_table,
    output_metadata,
    render_plot,
)
from lume_assets.errors import (
    LumeError,
    ModelError,
    ModelInputError,
    ModelOutputError,
    ModelTimeoutError,
    RegistryError,
    StoreUnavailableError,
)
from lume_assets.models.model import ModelSpec
from lume_assets.storage.hdf5 import H5Node
from lume_assets.storage.results import Provenance, Result, compute_inputs_hash

__all__ = [
    "RANGE_CHECK",
    "RESULT_OUTPUT",
    "FromOutput",
    "Upstream",
    "model_asset",
    "model_output_key",
    "model_result_key",
    "output_binding",
]

RANGE_CHECK = "outputs_in_declared_range"


# -- resources -------------------------------------------------------------------------------------
def _result_store(context: dg.AssetExecutionContext) -> Any:
    """The ResultStore the result IO manager writes to (one open store per run), else the one
    of the "result_store" resource."""
    iom = getattr(context.resources, "result_io_manager", None)
    resource = getattr(iom, "result_store", None) or context.resources.result_store
    return resource.get_store()


_DEPLOYMENTS: dict[tuple[str, str, str, int], Any] = {}


def _deployment(context: dg.AssetExecutionContext, spec: ModelSpec) -> Any:
    """The registry deployment of `spec`: looked up (the definitions registered it), registered
    if absent; memoized per process and registry."""
    registry = context.resources.registry.registry
    key = (registry.url, spec.name, spec.version, id(spec.function))
    if key not in _DEPLOYMENTS:
        try:
            found = registry.get_deployment(spec.name, spec.version)
        except RegistryError:
            found = None
        if found is None or found.source_sha256 != spec.source_sha256():
            found = registry.register_spec(spec)  # registers, or refuses changed source
        _DEPLOYMENTS[key] = found
    return _DEPLOYMENTS[key]


def _planned_files(
    context: dg.AssetExecutionContext, spec: ModelSpec, keys: Mapping[str, dg.AssetKey]
) -> dict[str, str]:
    """Host paths the file IO managers will write for each file output (for provenance)."""
    files: dict[str, str] = {}
    partition = context.partition_key if context.has_partition_key else None
    for var in file_outputs(spec):
        iom = getattr(context.resources, IO_MANAGER_BY_KIND[var.kind], None)
        if iom is None or not hasattr(iom, "file_path"):
            continue
        out_ctx = dg.build_output_context(asset_key=keys[var.name], partition_key=partition)
        serializer = iom.get_serializer(iom.serializer)
        rel = iom.file_path(out_ctx, serializer, partition)
        files[var.name] = iom.filesystem().host_path(rel)
    return files


def _plot_file(
    context: dg.AssetExecutionContext,
    spec: ModelSpec,
    result_key: dg.AssetKey,
    inputs_hash: str,
    values: tuple[Mapping[str, Any], Mapping[str, Any]],
    reuse: bool,
) -> str | None:
    """The plot's PNG, `<model>/plots/<inputs hash>.png` under the HDF5 files root: on a cache
    hit the stored file (not rendered again), else rendered from (inputs, outputs) and written."""
    iom = getattr(context.resources, "hdf5_io_manager", None)
    if spec.plot is None or iom is None or not hasattr(iom, "filesystem"):
        return None
    fs = iom.filesystem()
    rel = "/".join([*result_key.path[:-1], "plots", f"{inputs_hash[:16]}.png"])
    if not (reuse and fs.exists(rel)):
        png = render_plot(spec, *values)
        if png is None:
            return None
        fs.write_bytes(rel, png)  # atomic
    return fs.host_path(rel)


# -- the asset ----------------------------------------------------------------------------------
def _failure(exc: LumeError, spec: ModelSpec, retry: bool) -> dg.Failure:
    """A clean Dagster failure carrying the model error's message."""
    return dg.Failure(
        description=f"{type(exc).__name__}: {exc}",
        metadata={"model": spec.name, "version": spec.version},
        allow_retries=retry,
    )


def _bound_value(loaded: Any, output: str | None, input_name: str, spec: ModelSpec) -> Any:
    """The value an upstream asset gives to input `input_name`."""
    if isinstance(loaded, H5Node):  # an image output: its array (axes are in the attrs)
        loaded = loaded.value
    if output is None:
        if isinstance(loaded, Result):
            raise ModelInputError(
                f"input {input_name!r} of {spec.name!r} is bound to a result asset; bind it "
                "to (asset key, output name) to pick one of its outputs."
            )
        return loaded
    source = loaded.outputs if isinstance(loaded, Result) else loaded
    if not isinstance(source, Mapping) or output not in source:
        raise ModelInputError(
            f"input {input_name!r} of {spec.name!r}: the upstream asset has no output {output!r}."
        )
    return source[output]


def _indexed(
    value: Any, index: tuple[int | slice, ...] | None, input_name: str, spec: ModelSpec
) -> Any:
    """`value[index]` for an indexed binding (the value itself without an index)."""
    if index is None:
        return value
    array = np.asarray(value)
    try:
        return array[index]
    except IndexError as exc:
        raise ModelInputError(
            f"input {input_name!r} of {spec.name!r}: index {index} does not fit the upstream "
            f"value of shape {array.shape} ({exc}); fix the index in the graph."
        ) from None


def _reusable_outputs(
    context: dg.AssetExecutionContext, spec: ModelSpec, cached: Result | None
) -> dict[str, Any] | None:
    """The cached result's outputs if they are complete and valid, else None (re-evaluate)."""
    if cached is None:
        return None
    try:
        return spec.validate_outputs(cached.outputs)
    except ModelOutputError as exc:
        context.log.warning(f"cached result {cached.inputs_hash[:12]} is not reusable: {exc}")
        return None


def model_asset(
    spec: ModelSpec,
    *,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    upstream: Mapping[str, Upstream] | None = None,
    partitions_def: dg.PartitionsDefinition | None = None,
    partition_inputs: Callable[[str], Mapping[str, Any]] | None = None,
    range_check: bool = True,
    result_kind: str | None = None,
) -> dg.AssetsDefinition:
    """Turn `spec` into a multi-asset (result record + one file asset per array/text output).

    `upstream` binds inputs to upstream assets (those inputs leave the config);
    `partition_inputs(partition_key)` gives input values per partition of `partitions_def` (one
    partition per run; for single-run backfills that evaluate many partitions in one vectorized
    call, see `lume_assets.automation.model_partitions.partitioned_model_asset`);
    `range_check=False` leaves out the output-range asset check (for chain-internal models);
    `result_kind` is the store kind Dagit shows on the result asset (default: the settings').
    The assets are grouped by `group_name`, else the model's project.
    """
    reserved = {RESULT_OUTPUT} & set(spec.output_map) | {FORCE_FIELD} & set(spec.input_map)
    if reserved:
        raise ModelError(
            f"model {spec.name!r} uses the reserved name(s) {sorted(reserved)}; rename them."
        )
    upstream = dict(upstream or {})
    unknown = sorted(set(upstream) - set(spec.input_map))
    if unknown:
        raise ModelError(
            f"model {spec.name!r} has no input(s) {unknown} to bind upstream; inputs are "
            f"{', '.join(spec.input_map)}."
        )
    prefix = prefix_parts(key_prefix)
    keys = {RESULT_OUTPUT: model_result_key(spec, prefix)}
    keys.update({v.name: dg.AssetKey([*prefix, spec.name, v.name]) for v in file_outputs(spec)})
    Config = build_config_class(spec, exclude=list(upstream))

    owners = list(spec.owners)
    # Dagit groups a model's assets by its project unless a group is given.
    group = group_name or spec.project
    common = {"code_version": spec.version, "owners": owners, "group_name": group}
    outs = {
        RESULT_OUTPUT: dg.AssetOut(
            key=keys[RESULT_OUTPUT],
            io_manager_key="result_io_manager",
            description=f"{spec.description} — result record (inputs, outputs, provenance).",
            metadata={
                "lume/model": spec.name,
                "lume/version": spec.version,
                **variables_metadata(spec.inputs, spec.outputs),
            },
            tags={"lume/kind": "result"},
            kinds={"python", result_kind or results_store_kind()},
            dagster_type=Result,
            **common,
        )
    }
    for var in file_outputs(spec):
        outs[var.name] = dg.AssetOut(
            key=keys[var.name],
            io_manager_key=IO_MANAGER_BY_KIND[var.kind],
            description=var.description or f"{var.kind} output {var.name!r} of {spec.name}",
            metadata={"lume/model": spec.name, "lume/output": var.name},
            tags={"lume/kind": var.kind},
            kinds=OUTPUT_KINDS[var.kind],
            **common,
        )

    # one op input per upstream asset, shared by every model input bound to it
    ins: dict[str, dg.AssetIn] = {}
    param_of: dict[dg.AssetKey, str] = {}
    bound: dict[str, tuple[str, str | None, tuple[int | slice, ...] | None]] = {}
    for input_name, target in upstream.items():
        ref = target if isinstance(target, FromOutput) else FromOutput(target, None)
        key = dg.AssetKey.from_coercible(ref.asset)
        if key not in param_of:
            param_of[key] = f"in_{input_name}"
            ins[param_of[key]] = dg.AssetIn(key=key)
        bound[input_name] = (param_of[key], ref.output, ref.index)

    check = dg.AssetCheckSpec(
        name=RANGE_CHECK,
        asset=keys[RESULT_OUTPUT],
        description="Every output lies within its declared range, shape and dtype.",
    )

    def compute(context: dg.AssetExecutionContext, config: Any, **loaded: Any):  # noqa: ANN202
        values = {k: v for k, v in config.model_dump().items() if k != FORCE_FIELD}
        try:
            for input_name, (param, output, index) in bound.items():
                value = _bound_value(loaded[param], output, input_name, spec)
                values[input_name] = _indexed(value, index, input_name, spec)
            if partition_inputs is not None and context.has_partition_key:
                values.update(partition_inputs(context.partition_key))
            inputs = spec.validate_inputs(values)
        except ModelInputError as exc:
            raise _failure(exc, spec, retry=False) from None
        inputs_hash = compute_inputs_hash(spec.name, spec.version, inputs)
        try:
            store = _result_store(context)
        except StoreUnavailableError as exc:  # it already waited its timeout: never retried
            raise _failure(exc, spec, retry=False) from None
        # held results (unpublished, waiting at an approval gate) count too: a re-run must
        # never publish what the gate holds back
        stored = store.find_one(inputs_hash, include_unpublished=True)
        cached = None if config.force else stored
        deployment = _deployment(context, spec)
        started = time.perf_counter()
        outputs = _reusable_outputs(context, spec, cached)
        if outputs is not None:
            result = cached
            context.log.info(f"{spec.name} v{spec.version}: cache hit {inputs_hash[:12]}")
        else:
            cached = None
            try:
                outputs = spec.evaluate(inputs)
            except ModelTimeoutError as exc:
                raise _failure(exc, spec, retry=True) from None
            except ModelOutputError as exc:
                raise _failure(exc, spec, retry=False) from None
            result = Result(
                model=spec.name,
                version=spec.version,
                inputs=inputs,
                outputs=outputs,
                inputs_hash=inputs_hash,
                published=stored is None or stored.published,
                provenance=Provenance(
                    run_id=context.run.run_id,
                    asset_key=keys[RESULT_OUTPUT].to_user_string(),
                    partition_key=context.partition_key if context.has_partition_key else None,
                    code_sha=deployment.source_sha256,
                    deployment_id=deployment.id,
                    files=_planned_files(context, spec, keys),
                ),
            )
        elapsed = time.perf_counter() - started
        meta: dict[str, Any] = {
            "cache_hit": dg.MetadataValue.bool(cached is not None),
            "inputs_hash": dg.MetadataValue.text(inputs_hash),
            "published": dg.MetadataValue.bool(result.published),
            "deployment_id": dg.MetadataValue.int(int(deployment.id)),
            "evaluated_in_run": dg.MetadataValue.text(result.provenance.run_id or ""),
            "seconds": dg.MetadataValue.float(round(elapsed, 6)),
            "inputs_table": io_table(spec.inputs, inputs),
            "outputs_table": io_table(spec.outputs, outputs),
        }
        if result.provenance.files:
            meta["files"] = dg.MetadataValue.json(dict(result.provenance.files))
        # a file referenced from the metadata, not an inline blob in the event log
        plot = _plot_file(
            context, spec, keys[RESULT_OUTPUT], inputs_hash, (inputs, outputs), cached is not None
        )
        if plot is not None:
            meta["plot_path"] = dg.MetadataValue.path(plot)
        yield dg.Output(result, output_name=RESULT_OUTPUT, metadata=meta)
        for var in file_outputs(spec):
            yield dg.Output(
                file_value(var, outputs[var.name], spec, inputs_hash),
                output_name=var.name,
                metadata={
                    "cache_hit": dg.MetadataValue.bool(cached is not None),
                    "inputs_hash": dg.MetadataValue.text(inputs_hash),
                    **output_metadata(var, outputs[var.name]),
                },
            )
        if not range_check:
            return
        problems = spec.out_of_range_outputs(outputs)
        yield dg.AssetCheckResult(
            check_name=RANGE_CHECK,
            asset_key=keys[RESULT_OUTPUT],
            passed=not problems,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "violations": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
            },
        )

    params = [
        inspect.Parameter(
            "context", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=dg.AssetExecutionContext
        ),
        inspect.Parameter("config", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Config),
        *(inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in ins),
    ]
    compute.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    compute.__name__ = spec.name
    compute.__doc__ = spec.description or f"Evaluate model {spec.name} v{spec.version}."

    return dg.multi_asset(
        name="__".join([*prefix, spec.name]),
        outs=outs,
        ins=ins,
        check_specs=[check] if range_check else None,
        required_resource_keys={"result_store", "registry"},
        retry_policy=retry_policy_of(spec),
        op_tags=model_op_tags(spec),
        partitions_def=partitions_def,
        description=spec.description,
    )(compute)
