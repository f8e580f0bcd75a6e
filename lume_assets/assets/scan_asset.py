"""Fast parameter scans: thousands of points in one run, vectorized, written chunk by chunk.

`scan_asset(spec, scan)` is one asset partitioned by the scan's chunks (static partitions) with
`BackfillPolicy.single_run()`: materializing all chunks is ONE run (a backfill, the CLI's
`lume-assets scan`, or a run with a partition range). Chunk by chunk it goes through the
evaluation core (`lume_assets.assets.evaluation`: inputs validated once, stored results reused,
the uncached points evaluated in one batch call by the `chunk_runner` resource — in this
process, a local process pool or Slurm jobs, chosen in config: `lume_assets.deploy.chunk_runners`;
a few chunks are evaluated ahead while the oldest is written, in order), writes the chunk's
columns (inputs, outputs, inputs hashes) as ONE content-addressed HDF5 file
through the HDF5 IO manager
(`<scan key>/<chunk>/<digest of the chunk's hashes>.h5`), then the chunk's result records,
each pointing at that file with its sha256, with `put_chunk` (visible all at once). Each chunk is
written as soon as it is evaluated and then freed, so memory does not grow with the scan, and
each partition's materialization event records only its own file. A progress
line per chunk goes to the run log (and to the CLI). With `requires_approval=True` new results
are stored unpublished and the run stops at the approval gate; results already published stay
published. `force: true` in the run config re-evaluates stored points and rewrites their chunk
files, keeping each point's published flag (never unpublishing).

Large scans of cheap models (issue 14: a million focus points in about a minute). Per point,
the work left in this process is small and batched: a grid of scalar inputs is validated once
per axis value (`scan_grid.check_axes`; any refusal falls back to validating every point, which
names the failing value and chunk), a chunk's flat points are hashed in one pass
(`compute_inputs_hashes`, the same digests), the cache is queried 5,000 hashes at a time,
scalar batch outputs are validated per column, and a chunk's Results are built in one pass
(`results_of_chunk`). The cyclic GC is paused during the chunk loop (`no_cyclic_gc`). The
records' writes (`put_chunk`, most of the work at this scale) hold the GIL, so a thread cannot
overlap them: with the chunk runner's `writer` (default `auto`: from 50,000 points) a writer
process (`lume_assets.storage.chunk_writer`) writes the new scalar records of each chunk, in
order, while this process validates, hashes, looks up, evaluates and files the next ones; the
file is always written (and fsynced) before its records are sent, and a chunk counts as done
(progress, output) once its records are committed. As with chunks evaluated ahead, a point
repeated in a later chunk may be looked up before the writer committed its first copy, and is
then evaluated again (same outputs). Chunks with cache hits are written by this process, after
the writer has caught up.
"""

import gc
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np

from lume_assets.assets.approval_gate import approval_metadata, hold_for_approval
from lume_assets.assets.evaluation import (
    Evaluation,
    EvaluationPlan,
    plan,
    results_of_chunk,
    validate_points,
)
from lume_assets.assets.model_config import ScanConfig, model_op_tags
from lume_assets.assets.model_keys import prefix_parts
from lume_assets.assets.plot_links import plot_metadata
from lume_assets.assets.scan_grid import ScanSpec, check_axes
from lume_assets.assets.scan_overview import OVERVIEW_FOLDER, ScanOverview
from lume_assets.automation.progress import Progress
from lume_assets.deploy.chunk_runners import RUNNER_KEY, ChunkRunner
from lume_assets.errors import LumeError, StorageError
from lume_assets.io_managers.files import FileIOManager
from lume_assets.models.model import ModelSpec
from lume_assets.models.plot_process import PlotProcess
from lume_assets.models.plot_process import take as take_plot_process
from lume_assets.models.plotting import render
from lume_assets.storage.chunk_writer import ChunkWriter
from lume_assets.storage.files import FileRecord, sha256_file, write_bytes
from lume_assets.storage.gc_pause import no_cyclic_gc
from lume_assets.storage.locator import chunk_file_id, result_file_path
from lume_assets.storage.results import Provenance, utc_now_ms

__all__ = ["SCAN_FILE", "SCAN_IO_MANAGER", "scan_asset", "stack_columns"]

SCAN_IO_MANAGER = "hdf5_io_manager"
SCAN_FILE = "scan"  # the name of a scan result's chunk file among its files
WRITES_QUEUED = 2  # chunks whose records a writer process may still be writing


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


def _columns(evals: Sequence[Evaluation]) -> dict[str, Any]:
    """The chunk file's content: inputs, outputs and inputs hashes, one column each."""
    return {
        "inputs": stack_columns([ev.inputs for ev in evals]),
        "outputs": stack_columns([ev.outputs for ev in evals]),
        "inputs_hash": np.asarray([ev.inputs_hash for ev in evals], dtype=str),
    }


def _writer(spec: ModelSpec, resource: Any, runner: ChunkRunner, points: int) -> ChunkWriter | None:
    """A writer process for this step's new records, when the runner's `writer` asks for one
    and the records are scalar (rebuilt exactly from columns) in a store it can reopen."""
    scalars = all(v.kind == "scalar" for v in (*spec.inputs, *spec.outputs))
    if not scalars or not runner.writer_process(points):
        return None
    options = getattr(resource, "store_options", None)
    return ChunkWriter(options()) if callable(options) else None


def _failure(chunk: str, exc: LumeError) -> dg.Failure:
    """The step failure for a chunk's bad input or output: one line naming the chunk."""
    return dg.Failure(
        description=f"{type(exc).__name__} in {chunk}: {exc}", metadata={"chunk": chunk}
    )


def _reusable_file(iom: FileIOManager, evals: Sequence[Evaluation], rel: str) -> FileRecord | None:
    """The chunk's existing file when every point is a hit already pointing at it."""
    records = {
        ev.cached.provenance.files.get(SCAN_FILE) if ev.cached is not None else None for ev in evals
    }
    if len(records) != 1:
        return None
    (record,) = records
    return iom.stored(record) if record is not None and record.path == rel else None


def _overview(
    overview: ScanOverview,
    iom: FileIOManager,
    key: dg.AssetKey,
    digests: list[str],
    title: str,
    painter: PlotProcess | None,
) -> tuple[FileRecord, Path] | None:
    """The overview PNG of these chunk files: the stored one, else rendered (by `painter`'s
    child process when there is one) and written once."""
    fs = iom.filesystem()
    rel = result_file_path(
        key.path, chunk_file_id(overview.cache_key(digests)), ".png", OVERVIEW_FOLDER
    )
    local = fs.resolve(rel)
    if local.is_file():  # the same points plotted before: no rendering, no new file
        record = FileRecord(
            path=rel,
            host_path=fs.host_path(rel),
            bytes=local.stat().st_size,
            sha256=sha256_file(local),
            serializer="png",
        )
        return record, local
    spec = overview.figure(title)
    if spec is None:
        return None
    data = painter.render(spec) if painter is not None else render(spec)
    return write_bytes(fs, rel, data, "png"), local


def _writer_stopped(chunk: str, exc: BaseException) -> dg.Failure:
    """The step's one-line failure when the scan's writer process stopped before `chunk`."""
    stopped = StorageError(
        f"the scan's writer process stopped before {chunk} was written ({exc}); "
        "see the step's log, or set chunk_runner writer: step."
    )
    return _failure(chunk, stopped)


def _stored_last(partitions: dg.StaticPartitionsDefinition, chunks: list[str]) -> str:
    """The chunk whose materialization event Dagster stores last, i.e. the one Dagit shows as
    the asset's latest: Dagster emits a range's events in the order of the partitions subset it
    builds from the range (a set), rebuilt here the same way, in the same process."""
    subset = partitions.empty_subset().with_partition_key_range(
        partitions, dg.PartitionKeyRange(chunks[0], chunks[-1])
    )
    return list(subset.get_partition_keys())[-1]


def _scan_overview(spec: ModelSpec, scan: ScanSpec) -> ScanOverview:
    """A fresh overview of `scan` (refuses a `plot_output` that is not a scalar output)."""
    axes = {n: scan.axis_values(n) for n in scan.axes}
    return ScanOverview(spec, axes, grid=scan.combine == "product", plot_output=scan.plot_output)


def scan_asset(
    spec: ModelSpec,
    scan: ScanSpec,
    *,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    requires_approval: bool = False,
) -> dg.AssetsDefinition:
    """Build the scan asset `[*key_prefix, <model>, <scan name>]` of `spec` over `scan`.

    One static partition per chunk of `scan.chunk_size` points, single-run backfills; the
    asset's value per chunk is the chunk file's `FileRecord` (downstream assets load the
    columns). `requires_approval=True` holds new results for approval. The run config's
    `force` re-evaluates stored points as a model's does (their published flag is kept).
    """
    key = dg.AssetKey([*prefix_parts(key_prefix), spec.name, scan.name])
    _scan_overview(spec, scan)  # a bad plot_output fails when the definitions load
    partitions = dg.StaticPartitionsDefinition(scan.chunk_keys())
    resource_keys = {"result_store", SCAN_IO_MANAGER, RUNNER_KEY} | (
        {"approvals"} if requires_approval else set()
    )

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
    def _scan(context: dg.AssetExecutionContext, config: ScanConfig) -> dg.Output:
        chunks = list(context.partition_keys)
        store = context.resources.result_store.get_store()
        iom = getattr(context.resources, SCAN_IO_MANAGER)
        if not isinstance(iom, FileIOManager):
            raise dg.Failure(description=f"{SCAN_IO_MANAGER} must be a lume_assets file manager.")
        columns = scan.columns()
        progress = Progress(
            key.to_user_string(),
            sum(stop - start for start, stop in map(scan.chunk_bounds, chunks)),
            emit=context.log.info,
        )
        code_sha = spec.source_sha256()
        runner = getattr(context.resources, RUNNER_KEY)
        out: dict[str, Any] = {}
        held: list[str] = []
        counts = {"written": 0, "hits": 0}
        overview = _scan_overview(spec, scan)
        digests: list[str] = []  # one per chunk file: what the overview plot depends on

        run_id = context.run.run_id
        asset_key = key.to_user_string()

        def done(chunk: str, record: FileRecord, points: int, changed: int) -> None:
            """Account for a chunk whose records are committed."""
            counts["written"] += changed
            out[chunk] = record
            digests.append(record.sha256 or record.path)
            progress.advance(points)

        def settle(keep: int) -> None:
            """Wait for the writer process until at most `keep` chunks are queued in it."""
            while len(queued) > keep:
                chunk, record, points, written = queued.popleft()
                try:
                    written.result()  # its failure fails the step here
                except BrokenProcessPool as exc:  # killed, or it could not open the store
                    raise _writer_stopped(chunk, exc) from None
                done(chunk, record, points, points)

        def write(chunk: str, todo: EvaluationPlan, outputs: Future) -> None:
            """Write one evaluated chunk (file, then its result rows) and let it go."""
            try:
                evals = todo.complete(outputs.result())
            except LumeError as exc:
                raise _failure(chunk, exc) from None
            file_id = chunk_file_id(ev.inputs_hash for ev in evals)
            rel = result_file_path(key.path, file_id, ".h5", chunk)
            columns = _columns(evals)
            overview.add(columns["inputs"], columns["outputs"])
            record = _reusable_file(iom, evals, rel) or iom.write_result_file(
                key.path,
                columns,
                file_id=file_id,
                partition=chunk,
                stamp={
                    "model": spec.name,
                    "version": spec.version,
                    "inputs_hash": file_id,
                    "run_id": run_id,
                },
            )
            # one provenance record and one creation time for the chunk's points
            provenance = Provenance(
                run_id=run_id,
                asset_key=asset_key,
                partition_key=chunk,
                code_sha=code_sha,
                files={SCAN_FILE: record},
            )
            created = utc_now_ms()
            counts["hits"] += sum(ev.cache_hit for ev in evals)
            if writer is not None and not any(ev.cache_hit for ev in evals):
                published = [ev.published for ev in evals]
                held.extend(ev.inputs_hash for ev in evals if not ev.published)
                try:
                    written = writer.submit(
                        (spec.name, spec.version),
                        columns["inputs"],
                        columns["outputs"],
                        [ev.inputs_hash for ev in evals],
                        published,
                        provenance,
                        created,
                    )
                except BrokenProcessPool as exc:  # it stopped before this chunk was queued:
                    # the oldest chunk not written is the first one still queued, if any
                    raise _writer_stopped(queued[0][0] if queued else chunk, exc) from None
                queued.append((chunk, record, len(evals), written))
                settle(WRITES_QUEUED)
            else:  # cache hits (or no writer process): written here, after the queued chunks
                settle(0)
                results = results_of_chunk(spec, evals, provenance, created)
                changed = [r for r, ev in zip(results, evals, strict=True) if r is not ev.cached]
                held.extend(r.inputs_hash for r in results if not r.published)
                store.put_chunk(changed)
                done(chunk, record, len(evals), len(changed))
            gc.collect(1)  # the cyclic garbage of this chunk (the collector is paused)

        # one chunk = one batch call = one file = one visible write; up to `depth` chunks are
        # being evaluated (by the runner) while the oldest is written, in chunk order; with a
        # writer process, the records of up to WRITES_QUEUED chunks are being written by it
        # while this process goes on with the next chunks
        grid = check_axes(spec, scan)  # None: validate point by point
        pending: deque[tuple[str, EvaluationPlan, Future]] = deque()
        queued: deque[tuple[str, FileRecord, int, Future]] = deque()
        writer = _writer(spec, context.resources.result_store, runner, progress.total)
        # a child process the `scan` command started to draw the overview (plot_process)
        painter = take_plot_process()
        if painter is not None and overview.plotted is None:
            painter.close()
            painter = None
        try:
            with runner.session(context, spec) as submit, no_cyclic_gc():
                for chunk in chunks:
                    try:
                        inputs = (
                            grid.chunk_points(chunk, columns)
                            if grid is not None
                            else validate_points(spec, scan.chunk_points(chunk, columns))
                        )
                        todo = plan(
                            spec, inputs, store=store, force=config.force, hold=requires_approval
                        )
                    except LumeError as exc:
                        raise _failure(chunk, exc) from None
                    pending.append((chunk, todo, submit(todo.todo)))
                    if len(pending) >= runner.depth():
                        write(*pending.popleft())
                while pending:
                    write(*pending.popleft())
                settle(0)
        except BaseException:
            if painter is not None:
                painter.close()
            raise
        finally:
            if writer is not None:
                writer.close()
        written, hits = counts["written"], counts["hits"]
        context.add_output_metadata(
            {
                "points": dg.MetadataValue.int(progress.done),
                "chunks": dg.MetadataValue.int(len(chunks)),
                "cache_hits": dg.MetadataValue.int(hits),
                "records_written": dg.MetadataValue.int(written),
                "seconds": dg.MetadataValue.float(round(progress.elapsed(), 3)),
                "published": dg.MetadataValue.bool(not held),
                "runner": dg.MetadataValue.text(runner.kind),
                "runner_workers": dg.MetadataValue.int(runner.pool_size()),
                "writer": dg.MetadataValue.text("process" if writer is not None else "step"),
            }
        )
        # the overview goes on one event only, the one stored last: Dagit's asset page shows
        # the latest, and the other chunks' events stay as they were
        title = f"{spec.name} {scan.name}: {progress.done} point(s)"
        summary: dict[str, Any] = {"summary": overview.summary()}
        try:
            drawn = _overview(overview, iom, key, digests, title, painter)
        finally:
            if painter is not None:
                painter.close()
        if drawn is not None:
            summary.update(plot_metadata(context.instance, *drawn, title, label="overview"))
        context.add_asset_metadata(summary, partition_key=_stored_last(partitions, chunks))
        if requires_approval and held:
            approval = hold_for_approval(
                context,
                context.resources.approvals.get_store(),
                list(dict.fromkeys(held)),
                gate=key.to_user_string(),
                model=spec.name,
            )
            context.add_output_metadata(approval_metadata(approval))
        return dg.Output(out)  # typed: a Slurm runner opens Pipes sessions in this step

    return _scan
