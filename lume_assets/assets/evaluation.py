"""The evaluation core every model builder calls (`model_asset`, its partitioned and
single-run-backfill forms, and `scan_asset`). It does no IO of its own: the caller passes the
opened result store for the cache lookup and writes what comes back.

Steps: validate every point's inputs ONCE → hash → look up the cache → evaluate the uncached
points (one batch call when there are several and the model has a batch function) → validate
the outputs → build each `Result` with its `Provenance`.

The one visibility rule (`lookup`): every stored record of an inputs hash counts as a cache
hit, whether published or held unpublished at an approval gate, as long as its outputs still
validate against the spec (a ParticleGroup output read back from its file: the caller's
`restore`). A hit keeps its record (and so its published flag). A new evaluation is published
unless the builder holds it for approval; re-evaluating a stored hash (`force`) keeps the stored
flag. So a held result stays held and a published one stays published, the same under every
builder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lume_assets.errors import LumeError, ModelInputError
from lume_assets.models.model import ModelSpec
from lume_assets.storage.files import FileRecord
from lume_assets.storage.result_stores import ResultStore
from lume_assets.storage.results import (
    Provenance,
    Result,
    compute_inputs_hash,
    compute_inputs_hashes,
    construct_results,
    with_file_digests,
)

__all__ = [
    "Evaluation",
    "EvaluationPlan",
    "evaluate",
    "lookup",
    "plan",
    "result_of",
    "results_of_chunk",
    "reused_record",
    "run_points",
    "validate_points",
]

LOOKUP_BATCH = 5000  # inputs hashes per cache query (the SQL store sends 5,000 rows a statement)
Log = Callable[[str], None]
Restore = Callable[[Result], Result]  # a stored record with its file-backed outputs read back


@dataclass(slots=True)
class Evaluation:
    """One point after the core: its inputs, hash, outputs, and the stored record if any."""

    inputs: dict[str, Any]
    inputs_hash: str
    outputs: dict[str, Any]
    published: bool
    cached: Result | None = None  # the stored record reused (a cache hit)
    stored: Result | None = None  # the stored record found (also when re-evaluated)
    files: dict[str, FileRecord] = field(default_factory=dict)

    @property
    def cache_hit(self) -> bool:
        """Whether the outputs were reused from the store."""
        return self.cached is not None


def validate_points(
    spec: ModelSpec, points: Sequence[Mapping[str, Any]], labels: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Validate every point's inputs (once); a failure names the point's label."""
    checked = []
    for i, point in enumerate(points):
        try:
            checked.append(spec.validate_inputs(point))
        except ModelInputError as exc:
            if labels is None or len(points) == 1:
                raise
            raise ModelInputError(f"{labels[i]}: {exc}") from None
    return checked


def lookup(store: ResultStore | None, hashes: Sequence[str]) -> dict[str, Result]:
    """Return the stored records of `hashes`, held (unpublished) ones included."""
    if store is None or not hashes:
        return {}
    unique = list(dict.fromkeys(hashes))
    if len(unique) == 1:
        hit = store.find_one(unique[0], include_unpublished=True)
        return {} if hit is None else {hit.inputs_hash: hit}
    found: dict[str, Result] = {}
    for start in range(0, len(unique), LOOKUP_BATCH):
        chunk = unique[start : start + LOOKUP_BATCH]
        for hit in store.find(filter={"inputs_hash": {"$in": chunk}}, include_unpublished=True):
            found[hit.inputs_hash] = hit
    return found


def _reusable(
    spec: ModelSpec, record: Result, log: Log | None, restore: Restore | None = None
) -> dict[str, Any] | None:
    """The record's outputs (`restore`d: file-backed ones read back) if still valid for the
    spec, else None (re-evaluate)."""
    try:
        return spec.validate_outputs((restore(record) if restore else record).outputs)
    except LumeError as exc:  # an invalid output, or a file-backed one not readable
        if log is not None:
            log(f"cached result {record.inputs_hash[:12]} is not reusable: {exc}")
        return None


def run_points(spec: ModelSpec, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluate validated points: the plain function for one, the batch function for many.

    The one call every chunk runner makes (in this process, a worker process or a Slurm job),
    so the outputs are the same whichever runner evaluated them.
    """
    return spec.evaluate_checked(points, batch=len(points) > 1)


@dataclass
class EvaluationPlan:
    """Points after validation, hashing and the cache lookup; `todo` is left to evaluate."""

    inputs: Sequence[dict[str, Any]]
    hashes: list[str]
    stored: dict[str, Result]
    reused: dict[str, dict[str, Any]]
    first: dict[str, int]  # uncached hash -> index of its first point
    hold: bool

    @property
    def todo(self) -> list[dict[str, Any]]:
        """The distinct uncached points, in order: what a runner evaluates."""
        return [self.inputs[i] for i in self.first.values()]

    def complete(self, outputs: Sequence[dict[str, Any]]) -> list[Evaluation]:
        """Join the outputs of `todo` (same order) with the cache hits: one Evaluation a point."""
        fresh = dict(zip(self.first, outputs, strict=True))
        out = []
        for i, h in enumerate(self.hashes):
            record = self.stored.get(h)
            hit = h in self.reused
            out.append(
                Evaluation(
                    inputs=self.inputs[i],
                    inputs_hash=h,
                    outputs=self.reused[h] if hit else fresh[h],
                    published=record.published if record is not None else not self.hold,
                    cached=record if hit else None,
                    stored=record,
                )
            )
        return out


def plan(
    spec: ModelSpec,
    inputs: Sequence[dict[str, Any]],
    *,
    store: ResultStore | None,
    force: bool = False,
    hold: bool = False,
    log: Log | None = None,
    input_files: Sequence[Mapping[str, Mapping[str, str]]] | None = None,
    restore: Restore | None = None,
) -> EvaluationPlan:
    """Hash validated `inputs` and look them up (module docstring); nothing is evaluated.

    `restore` rebuilds a stored record's outputs kept as files (a ParticleGroup: only its
    summary is in the record); when it fails the point is re-evaluated.
    """
    if not input_files:  # a batch of plain points (a scan chunk): formatted at once
        hashes = compute_inputs_hashes(spec.name, spec.version, inputs)
    else:
        hashes = [
            compute_inputs_hash(spec.name, spec.version, with_file_digests(i, f))
            for i, f in zip(inputs, input_files, strict=True)
        ]
    stored = lookup(store, hashes)
    reused: dict[str, dict[str, Any]] = {}
    if not force:
        for h, record in stored.items():
            outputs = _reusable(spec, record, log, restore)
            if outputs is not None:
                reused[h] = outputs
    first: dict[str, int] = {}
    for i, h in enumerate(hashes):
        if h not in reused:
            first.setdefault(h, i)
    return EvaluationPlan(inputs, hashes, stored, reused, first, hold)


def reused_record(
    spec: ModelSpec,
    inputs: dict[str, Any],
    *,
    store: ResultStore,
    restore: Restore | None = None,
) -> Result | None:
    """The stored record a materialization of validated `inputs` (one point, no file inputs
    fed by an upstream) reuses under the rule in the module docstring, else None; nothing is
    evaluated (`api.cache_hits` answers such a hit without a run)."""
    found = plan(spec, [inputs], store=store, restore=restore)
    inputs_hash = found.hashes[0]
    return found.stored[inputs_hash] if inputs_hash in found.reused else None


def evaluate(spec: ModelSpec, inputs: Sequence[dict[str, Any]], **options: Any) -> list[Evaluation]:
    """Evaluate validated `inputs` under the cache rule in the module docstring.

    Options as for `plan` (`store` required; `force`, `hold`, `log`, `input_files`: per point,
    file input -> {path, sha256}, so managed file inputs count by content in the inputs hash;
    `restore`: read a stored record's file-backed outputs back).
    """
    todo = plan(spec, inputs, **options)
    return todo.complete(run_points(spec, todo.todo))


def result_of(
    spec: ModelSpec, ev: Evaluation, provenance: Provenance, created: datetime | None = None
) -> Result:
    """The record to store for `ev`: the cached one (files refreshed), else a new Result.

    A new Result shares `provenance` when that already holds the point's files. Given
    `created` (a scan chunk: one time for its points), it is built without re-validation: its
    inputs were validated and its hash computed from them by `plan` (the `Result` validator
    would hash every point a second time). Without it, it is validated as any Result.
    """
    if ev.cached is not None:
        if not ev.files or ev.files == ev.cached.provenance.files:
            return ev.cached
        files = {**ev.cached.provenance.files, **ev.files}
        return ev.cached.model_copy(
            update={"provenance": ev.cached.provenance.model_copy(update={"files": files})}
        )
    if ev.files != provenance.files:
        provenance = provenance.model_copy(update={"files": dict(ev.files)})
    fields: dict[str, Any] = {
        "model": spec.name,
        "version": spec.version,
        "inputs": ev.inputs,
        "outputs": ev.outputs,
        "inputs_hash": ev.inputs_hash,
        "published": ev.published,
        "provenance": provenance,
    }
    if created is None:
        return Result(**fields)
    return Result.model_construct(created=created, **fields)


def results_of_chunk(
    spec: ModelSpec, evals: Sequence[Evaluation], provenance: Provenance, created: datetime
) -> list[Result]:
    """`result_of` every point of a chunk whose files are `provenance.files` (one chunk file).

    The same records `result_of` gives with each point's files set to the chunk's, but the new
    ones are built in one pass (`construct_results`: fields trusted as in `result_of` with
    `created`) sharing `provenance`; cached ones go through `result_of`.
    """
    rows: list[dict[str, Any]] = []
    out: list[Result | None] = []
    for ev in evals:
        if ev.cached is not None:
            ev.files.update(provenance.files)
            out.append(result_of(spec, ev, provenance, created))
            continue
        rows.append(
            {
                "model": spec.name,
                "version": spec.version,
                "inputs": ev.inputs,
                "outputs": ev.outputs,
                "inputs_hash": ev.inputs_hash,
                "created": created,
                "provenance": provenance,
                "published": ev.published,
            }
        )
        out.append(None)
    fresh = iter(construct_results(rows))
    return [r if r is not None else next(fresh) for r in out]
