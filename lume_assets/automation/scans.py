"""Fast parameter scans: thousands of points in one run, vectorized, written in batches.

`scan_asset(spec, scan)` is one asset partitioned by the scan's chunks (static partitions) with
`BackfillPolicy.single_run()`: materializing all chunks is ONE run (a backfill, the CLI's
`lume-assets scan`, or a run with a partition range) that, chunk by chunk, evaluates the model
on every point with one batch call (when the model has one), writes the chunk's result
documents with one `put_many`, and hands the chunk's columns (inputs, outputs, inputs hashes)
to the HDF5 IO manager — one file per chunk. A progress line per chunk goes to the run log (and
to the CLI). With `requires_approval=True` the results are stored unpublished and the run
stops at the approval gate.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import numpy as np

from lume_assets.assets.model_config import model_op_tags
from lume_assets.automation.gate import approval_metadata, hold_for_approval
from lume_assets.automation.progress import Progress
from lume_assets.automation.provenance import planned_files
from lume_assets.automation.scan_grid import ScanSpec
from lume_assets.errors import LumeError
from lume_assets.models.model import ModelSpec
from lume_assets.storage.results import Provenance, Result

SCAN_IO_MANAGER = "hdf5_io_manager"


def stack_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Turn per-point dicts into one array per name (scalars → 1-D, arrays → stacked)."""
    if not rows:
        return {}
    columns = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        if isinstance(values[0], str):
            columns[name] = np.asarray(values, dtype=str)
        else:
            columns[name] = np.asarray(values)
    return columns


def evaluate_chunk(
    spec: ModelSpec,
    points: Sequence[Mapping[str, Any]],
    *,
    provenance: Provenance,
    published: bool,
) -> tuple[list[Result], dict[str, Any]]:
    """Evaluate `points` in one batch call; return the result documents and the HDF5 columns."""
    inputs = [spec.validate_inputs(p) for p in points]
    outputs = spec.evaluate_batch(inputs)
    results = [
        Result(
            model=spec.name,
            version=spec.version,
            inputs=i,
            outputs=o,
            provenance=provenance,
            published=published,
        )
        for i, o in zip(inputs, outputs, strict=True)
    ]
    columns = {
        "inputs": stack_columns(inputs),
        "outputs": stack_columns(outputs),
        "inputs_hash": np.asarray([r.inputs_hash for r in results], dtype=str),
    }
    return results, columns


def scan_asset(
    spec: ModelSpec,
    scan: ScanSpec,
    *,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    requires_approval: bool = False,
) -> dg.AssetsDefinition:
    """Build the scan asset of `spec` over `scan` (see the module docstring)."""
    prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix or [])
    key = dg.AssetKey([*prefix, spec.name, scan.name])
    partitions = dg.StaticPartitionsDefinition(scan.chunk_keys())
    resource_keys = {"result_store"} | ({"approvals"} if requires_approval else set())

    @dg.asset(
        key=key,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key=SCAN_IO_MANAGER,
        required_resource_keys=resource_keys,
        code_version=spec.version,
        group_name=group_name,
        op_tags=model_op_tags(spec),
        metadata={
            "lume/model": spec.name,
            "lume/version": spec.version,
            "lume/scan_points": scan.size,
            "lume/chunk_size": scan.chunk_size,
            "lume/requires_approval": requires_approval,
        },
        tags={"lume/kind": "scan"},
        description=f"{scan.size}-point scan of {spec.name} over {', '.join(scan.axes)} "
        f"in chunks of {scan.chunk_size}.",
    )
    def _scan(context: dg.AssetExecutionContext) -> dict[str, Any]:
        keys = list(context.partition_keys)
        store = context.resources.result_store.get_store()
        columns = scan.columns()
        progress = Progress(
            key.to_user_string(),
            sum(stop - start for start, stop in map(scan.chunk_bounds, keys)),
            emit=context.log.info,
        )
        paths = planned_files(context, SCAN_IO_MANAGER, key, keys)
        code_sha = spec.source_sha256()
        out: dict[str, Any] = {}
        hashes: list[str] = []
        for chunk in keys:  # one chunk = one batch call = one put_many = one HDF5 file
            points = scan.chunk_points(chunk, columns)
            try:
                results, out[chunk] = evaluate_chunk(
                    spec,
                    points,
                    provenance=Provenance(
                        run_id=context.run.run_id,
                        asset_key=key.to_user_string(),
                        partition_key=chunk,
                        code_sha=code_sha,
                        files={"scan": paths.get(chunk, "")},
                    ),
                    published=not requires_approval,
                )
            except LumeError as exc:
                raise dg.Failure(
                    description=f"{type(exc).__name__} in {chunk}: {exc}",
                    metadata={"chunk": chunk},
                ) from None
            store.put_many(results)
            hashes.extend(r.inputs_hash for r in results)
            progress.advance(len(points))
        context.add_output_metadata(
            {
                "points": dg.MetadataValue.int(progress.done),
                "chunks": dg.MetadataValue.int(len(keys)),
                "seconds": dg.MetadataValue.float(round(progress.elapsed(), 3)),
                "published": dg.MetadataValue.bool(not requires_approval),
            }
        )
        if requires_approval:
            approval = hold_for_approval(
                context,
                context.resources.approvals.get_store(),
                hashes,
                gate=key.to_user_string(),
                model=spec.name,
            )
            context.add_output_metadata(approval_metadata(approval))
        return out

    return _scan
