"""`model_asset(spec)`: a ModelSpec as Dagster assets with validated config, routed outputs,
a result cache, provenance and an output-range asset check.

One multi-asset per model, keyed `[*key_prefix, <model name>, <output>]`:

- `<model>/result` — the `Result` record (inputs, every output, inputs hash, provenance with the
  deployment id and the files below) through the "result_io_manager" into the result store. It
  is the cache: the next materialization with the same (model, version, inputs) reuses it.
- `<model>/<array output>` — each array/image output as an HDF5 file ("hdf5_io_manager").
- `<model>/<text output>` — each text output as a text file ("text_io_manager").

Every file is content-addressed (`lume_assets.storage.locator`): `<asset key>[/<partition>]/
<inputs_hash[:16]>.h5`, written once by the file IO manager, and the result record keeps each
file's path and sha256. Partitioned forms (`partitions_def`, `partition_inputs`, single-run
backfills) and the approval gate (`requires_approval`) are options of the same constructor.

Scalar and file-path outputs live in the result record. The model's input variables become the
run config (a Dagster `Config`, shown with defaults in the launchpad) plus a `force` flag.
"""

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dagster as dg
import numpy as np

from lume_assets.assets.approval_gate import approval_metadata, hold_for_approval
from lume_assets.assets.evaluation import Evaluation, evaluate, result_of, validate_points
from lume_assets.assets.file_inputs import file_input_digests, managed_file, restore_particles
from lume_assets.assets.model_config import (
    FORCE_FIELD,
    LAUNCHPAD_JOB,
    LAUNCHPAD_TEXT,
    LaunchpadBlock,
    build_config_class,
    launchpad_job_name,
    launchpad_link,
    model_op_tags,
    partition_config_class,
    retry_policy_of,
)
from lume_assets.assets.model_display import OUTPUT_KINDS, results_store_kind, variables_metadata
from lume_assets.assets.model_keys import (
    IO_MANAGER_BY_KIND,
    RESULT_OUTPUT,
    FromOutput,
    Upstream,
    file_outputs,
    model_op_name,
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
from lume_assets.assets.plot_links import plot_metadata
from lume_assets.errors import (
    LumeError,
    ModelError,
    ModelInputError,
    ModelTimeoutError,
    RegistryError,
    StoreUnavailableError,
)
from lume_assets.io_managers.files import FileIOManager
from lume_assets.io_managers.results import PROJECT_KEY, RECORD_UNCHANGED
from lume_assets.models.model import ModelSpec
from lume_assets.storage.files import write_bytes
from lume_assets.storage.h5node import H5Node
from lume_assets.storage.locator import result_file_path
from lume_assets.storage.results import Provenance, Result

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
PLOT_FILE = "plot"  # the result's plot, among its files


# -- resources -------------------------------------------------------------------------------------
def _result_store(context: dg.AssetExecutionContext, project: str | None = None) -> Any:
    """The ResultStore (of `project`) the result IO manager writes to (one open store per run),
    else the one of the "result_store" resource."""
    iom = getattr(context.resources, "result_io_manager", None)
    resource = getattr(iom, "result_store", None) or context.resources.result_store
    return resource.get_store(project)


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


def _file_manager(context: dg.AssetExecutionContext, kind: str) -> FileIOManager | None:
    """The file IO manager of outputs of `kind` when it is ours (it then writes the files)."""
    iom = getattr(context.resources, IO_MANAGER_BY_KIND.get(kind, "hdf5_io_manager"), None)
    return iom if isinstance(iom, FileIOManager) else None


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


def _one(keys: Sequence[str | None], values: Mapping[str | None, Any]) -> Any:
    """What an IO manager receives: the value itself for one partition, else a dict by key."""
    return values[keys[0]] if len(keys) == 1 else dict(values)


def model_asset(
    spec: ModelSpec,
    *,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    upstream: Mapping[str, Upstream] | None = None,
    partitions_def: dg.PartitionsDefinition | None = None,
    partition_inputs: Callable[[str], Mapping[str, Any]] | None = None,
    backfill_policy: dg.BackfillPolicy | None = None,
    requires_approval: bool = False,
    range_check: bool = True,
    result_kind: str | None = None,
    results_project: str | None = None,
    node: str | None = None,
    launchpad: str | None = None,
) -> dg.AssetsDefinition:
    """Turn `spec` into a multi-asset (result record + one file asset per array/text output).

    - `upstream` binds inputs to upstream assets (those inputs leave the run config).
    - `partitions_def` partitions the assets; `partition_inputs(partition_key)` gives the input
      values of a partition (then every config field is optional). A partitioned model
      without upstream bindings defaults to `BackfillPolicy.single_run()`: a backfill over N
      partitions is ONE run and ONE batch call for the uncached partitions; pass
      `backfill_policy` to change it.
    - `requires_approval=True` stores new results unpublished and records a pending approval
      (the run stops at the gate; `lume-assets approve` publishes).
    - `range_check=False` leaves out the output-range asset check (chain-internal models);
      `result_kind` is the store kind Dagit shows (default: the settings').
    - `results_project` stores the records in that result-store project (a graph's
      `project:`; default: the store's configured project).
    - `node` (a graph node's name) names the assets `<node>_<output>`, so that Dagit's lineage
      cards, which show a key's last component, tell the nodes of a graph apart.
    - `launchpad` is the link a graph node's result asset shows (its graph's launchpad); a
      model of its own links the launchpad of its own job (`launchpad_jobs`).

    Every run goes through the evaluation core (`lume_assets.assets.evaluation`): a stored
    result with the same inputs hash is reused, published or held alike. The assets are grouped
    by `group_name`, else the model's project.
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
    keys = {RESULT_OUTPUT: model_result_key(spec, prefix, node)}
    keys.update({v.name: model_output_key(spec, v.name, prefix, node) for v in file_outputs(spec)})
    if partition_inputs is not None and partitions_def is None:
        raise ModelError(f"model {spec.name!r}: partition_inputs needs a partitions_def.")
    if partition_inputs is not None:
        Config = partition_config_class(spec, exclude=list(upstream))
    else:
        Config = build_config_class(spec, exclude=list(upstream))
    if partitions_def is not None and backfill_policy is None and not upstream:
        backfill_policy = dg.BackfillPolicy.single_run()

    owners = list(spec.owners)
    op_name = model_op_name(spec, prefix)
    # Dagit's own launchpad lists config fields alphabetically: link one in declared order, of
    # the model's own job (a graph node's is its graph's, `launchpad`; none for partitions)
    job = launchpad_job_name(op_name) if node is None and partitions_def is None else None
    if job is not None:
        launchpad = launchpad_link(job, [LaunchpadBlock(spec, op_name, [*upstream])])
    link = f"\n\n[{LAUNCHPAD_TEXT}]({launchpad})" if launchpad else ""
    # Dagit groups a model's assets by its project unless a group is given.
    group = group_name or spec.project
    common = {"code_version": spec.version, "owners": owners, "group_name": group}
    outs = {
        RESULT_OUTPUT: dg.AssetOut(
            key=keys[RESULT_OUTPUT],
            io_manager_key="result_io_manager",
            description=f"{spec.description} — result record (inputs, outputs, provenance).{link}",
            metadata={
                "lume/model": spec.name,
                "lume/version": spec.version,
                "lume/requires_approval": requires_approval,
                **({PROJECT_KEY: results_project} if results_project else {}),
                **({LAUNCHPAD_JOB: job} if job is not None and launchpad else {}),
                **variables_metadata(spec.inputs, spec.outputs),
            },
            tags={"lume/kind": "result"},
            kinds={"python", result_kind or results_store_kind()},
            dagster_type=Result if partitions_def is None else dg.Any,  # ranges: a dict
            **common,
        )
    }
    for var in file_outputs(spec):
        outs[var.name] = dg.AssetOut(
            key=keys[var.name],
            io_manager_key=IO_MANAGER_BY_KIND[var.kind],
            description=var.description or f"{var.kind} output {var.name!r} of {spec.name}",
            metadata={
                "lume/model": spec.name,
                "lume/version": spec.version,
                "lume/output": var.name,
            },
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

    fed_files: set[str] = set()  # file inputs fed an upstream's managed file (by path)

    def inputs_of(
        context: dg.AssetExecutionContext, config: Any, loaded: Mapping[str, Any], keys: list
    ) -> list[dict[str, Any]]:
        """The raw inputs of every partition (or the one point): config, upstream, partition."""
        base = {k: v for k, v in config.model_dump().items() if k != FORCE_FIELD and v is not None}
        raws = []
        for key in keys:
            values = dict(base)
            for input_name, (param, output, index) in bound.items():
                got = loaded[param]
                if len(keys) > 1 and isinstance(got, Mapping) and key in got:
                    got = got[key]  # a multi-partition upstream: this partition's value
                path = managed_file(got, output, input_name, spec)
                if path is not None:  # a file input fed an upstream's managed file
                    values[input_name] = path
                    fed_files.add(input_name)
                    continue
                value = _bound_value(got, output, input_name, spec)
                values[input_name] = _indexed(value, index, input_name, spec)
            if partition_inputs is not None and key is not None:
                values.update(partition_inputs(key))
            raws.append(values)
        return raws

    def write_files(
        context: dg.AssetExecutionContext, ev: Evaluation, key: str | None
    ) -> dict[str, Any]:
        """Write (or reuse) each file output of one evaluation; return the values to yield."""
        values: dict[str, Any] = {}
        stamp = {
            "model": spec.name,
            "version": spec.version,
            "inputs_hash": ev.inputs_hash,
            "run_id": context.run.run_id,
        }
        for var in file_outputs(spec):
            value = file_value(var, ev.outputs[var.name], spec, ev.inputs_hash)
            iom = _file_manager(context, var.kind)
            if iom is None:  # a foreign IO manager writes the value itself
                values[var.name] = value
                continue
            old = ev.cached.provenance.files.get(var.name) if ev.cached is not None else None
            record = iom.stored(old) or iom.write_result_file(
                keys[var.name].path,
                value,
                file_id=ev.inputs_hash,
                partition=key,
                stamp=stamp,
            )
            ev.files[var.name] = record
            values[var.name] = record
        return values

    def save_plot(context: dg.AssetExecutionContext, ev: Evaluation, key: str | None) -> Any:
        """Render the model's plot once per result and keep it as the result's 'plot' file."""
        iom = _file_manager(context, "image")
        old = ev.cached.provenance.files.get(PLOT_FILE) if ev.cached is not None else None
        if iom is not None and iom.stored(old) is not None:
            ev.files[PLOT_FILE] = old
            return None
        png = render_plot(spec, ev.inputs, ev.outputs)
        if png is None or iom is None or PLOT_FILE in spec.output_map:
            return png
        path = result_file_path(keys[RESULT_OUTPUT].path, ev.inputs_hash, ".png", key)
        fs = iom.filesystem()
        ev.files[PLOT_FILE] = write_bytes(fs, path, png, "png")
        return png

    def compute(context: dg.AssetExecutionContext, config: Any, **loaded: Any):  # noqa: ANN202
        part_keys: list[str | None] = (
            list(context.partition_keys) if partitions_def is not None else [None]
        )
        labels = [f"partition {k}" for k in part_keys]
        started = time.perf_counter()
        try:
            inputs = validate_points(spec, inputs_of(context, config, loaded, part_keys), labels)
        except ModelInputError as exc:
            raise _failure(exc, spec, retry=False) from None
        input_files = [file_input_digests(i, fed_files) for i in inputs]
        try:
            store = _result_store(context, results_project)
        except StoreUnavailableError as exc:  # it already waited its timeout: never retried
            raise _failure(exc, spec, retry=False) from None
        deployment = _deployment(context, spec)
        try:
            evals = evaluate(
                spec,
                inputs,
                store=store,
                force=config.force,
                hold=requires_approval,
                log=context.log.warning,
                input_files=input_files,
                restore=lambda record: restore_particles(
                    spec, record, _file_manager(context, "particles")
                ),
            )
        except ModelTimeoutError as exc:
            raise _failure(exc, spec, retry=True) from None
        except LumeError as exc:
            raise _failure(exc, spec, retry=False) from None
        files: dict[str, dict[str | None, Any]] = {v.name: {} for v in file_outputs(spec)}
        results: dict[str | None, Result] = {}
        for key, ev, files_in in zip(part_keys, evals, input_files, strict=True):
            for name, value in write_files(context, ev, key).items():
                files[name][key] = value
            if len(part_keys) == 1:
                save_plot(context, ev, key)
            results[key] = result_of(
                spec,
                ev,
                Provenance(
                    run_id=context.run.run_id,
                    asset_key=keys[RESULT_OUTPUT].to_user_string(),
                    partition_key=key,
                    code_sha=deployment.source_sha256,
                    deployment_id=deployment.id,
                    input_files=files_in,
                ),
            )
        elapsed = time.perf_counter() - started
        hits = sum(ev.cache_hit for ev in evals)
        for var in file_outputs(spec):
            yield dg.Output(
                _one(part_keys, files[var.name]),
                output_name=var.name,
                metadata={
                    "cache_hit": dg.MetadataValue.bool(hits == len(evals)),
                    **(
                        {"inputs_hash": dg.MetadataValue.text(evals[0].inputs_hash)}
                        if len(evals) == 1
                        else {}
                    ),
                    **output_metadata(var, evals[0].outputs[var.name]),
                },
            )
        # a hit whose files had to be written again is stored again (its record changed)
        reused = all(results[k] is ev.cached for k, ev in zip(part_keys, evals, strict=True))
        meta: dict[str, Any] = {
            "cache_hit": dg.MetadataValue.bool(hits == len(evals)),
            RECORD_UNCHANGED: dg.MetadataValue.bool(reused),
            "deployment_id": dg.MetadataValue.int(int(deployment.id)),
            "seconds": dg.MetadataValue.float(round(elapsed, 6)),
        }
        first = results[part_keys[0]]
        if len(part_keys) == 1:
            ev = evals[0]
            meta.update(
                {
                    "inputs_hash": dg.MetadataValue.text(ev.inputs_hash),
                    "published": dg.MetadataValue.bool(first.published),
                    "evaluated_in_run": dg.MetadataValue.text(first.provenance.run_id or ""),
                    "inputs_table": io_table(spec.inputs, ev.inputs),
                    "outputs_table": io_table(spec.outputs, ev.outputs),
                }
            )
            if first.provenance.files:
                meta["files"] = dg.MetadataValue.json(
                    {n: r.host_path for n, r in first.provenance.files.items()}
                )
            # the plot is a file referenced here (and shown by Dagit), not a blob in the event log
            plot = first.provenance.files.get(PLOT_FILE)
            iom = _file_manager(context, "image")
            if plot is not None and iom is not None:
                local = iom.filesystem().resolve(plot.path)
                meta.update(plot_metadata(context.instance, plot, local, spec.name))
            elif plot is not None:
                meta["plot_path"] = dg.MetadataValue.path(plot.host_path)
        else:
            meta.update(
                {
                    "partitions": dg.MetadataValue.int(len(part_keys)),
                    "evaluated": dg.MetadataValue.int(len(evals) - hits),
                    "cache_hits": dg.MetadataValue.int(hits),
                    "batch_call": dg.MetadataValue.bool(spec.batch_function is not None),
                }
            )
        held = [r.inputs_hash for r in results.values() if not r.published]
        if requires_approval and held:
            approval = hold_for_approval(
                context,
                context.resources.approvals.get_store(),
                held,
                gate=keys[RESULT_OUTPUT].to_user_string(),
                model=spec.name,
            )
            meta.update(approval_metadata(approval))
        yield dg.Output(_one(part_keys, results), output_name=RESULT_OUTPUT, metadata=meta)
        if not range_check:
            return
        problems = [
            p if len(part_keys) == 1 else f"{k}: {p}"
            for k, ev in zip(part_keys, evals, strict=True)
            for p in spec.out_of_range_outputs(ev.outputs)
        ]
        yield dg.AssetCheckResult(
            check_name=RANGE_CHECK,
            asset_key=keys[RESULT_OUTPUT],
            passed=not problems,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "violations": dg.MetadataValue.md(
                    "\n".join(f"- {p}" for p in problems[:100]) or "none"
                ),
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
        name=op_name,
        outs=outs,
        ins=ins,
        check_specs=[check] if range_check else None,
        required_resource_keys={"result_store", "registry"}
        | ({"approvals"} if requires_approval else set()),
        retry_policy=retry_policy_of(spec),
        op_tags=model_op_tags(spec),
        partitions_def=partitions_def,
        backfill_policy=backfill_policy,
        description=spec.description,
    )(compute)
