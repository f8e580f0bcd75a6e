"""Check that stored results and the files root agree; find what to clean; compare outputs.

- `verify_files`: every result's files exist and match their recorded sha256; every file under
  the files root belongs to a result (else an *orphan*); temp files (`.*.tmp-*`, left by a
  killed write) are *stale* once their writer is gone (`temp_files.is_stale_temp`: writer
  dead, or unknown and untouched for an hour) — never while their writer runs. Only files
  named like the locator names them (`<16 hex>.<ext>`) can be orphans: other IO managers'
  files and the result store's own array blobs (`results/arrays/`) are not ours to judge.
- `collect_garbage`: removes orphans and stale temp files, never a file a result references.
- `identical`: whether two output values are bit-identical (dtype, shape and bytes).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lume_assets.storage.files import sha256_file
from lume_assets.storage.locator import ID_CHARS
from lume_assets.storage.result_stores import ResultStore
from lume_assets.storage.results import Result
from lume_assets.storage.temp_files import STALE_AFTER_S, is_stale_temp

STORE_OWNED = ("results/arrays/",)  # the result store's own content-addressed blobs
TEMP_MARK = ".tmp-"
RESULT_FILE = re.compile(rf"^[0-9a-f]{{{ID_CHARS}}}\.[A-Za-z0-9]+$")  # the locator's names


@dataclass(frozen=True)
class Finding:
    """One problem: what it is, the file, and a detail (the result hash or the age)."""

    kind: str  # "missing", "mismatch", "orphan", "stale-temp"
    path: str
    detail: str = ""


@dataclass
class Report:
    """What `verify_files` found: checked counts and the findings."""

    results: int = 0
    files: int = 0
    findings: list[Finding] = field(default_factory=list)
    referenced: set[Path] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        """True when no result's file is missing or different from its sha256."""
        return not any(f.kind in ("missing", "mismatch") for f in self.findings)

    def of_kind(self, *kinds: str) -> list[Finding]:
        """The findings of these kinds."""
        return [f for f in self.findings if f.kind in kinds]


def _located(root: Path, record: Any) -> Path:
    """The file a FileRecord describes, on this host (root-relative, or a legacy host path)."""
    rel = Path(record.path)
    return rel if rel.is_absolute() else root / rel


def _all_results(store: ResultStore, model: str | None) -> Iterable[Result]:
    """Every stored result (held ones too), of one model or all."""
    return store.find(model=model, include_unpublished=True)


def verify_files(
    store: ResultStore, root: Path, model: str | None = None, *, now: float | None = None
) -> Report:
    """Check results' files against their sha256 and the files root for orphans/stale temps."""
    root = Path(root).resolve()
    report = Report()
    digests: dict[Path, str] = {}
    for result in _all_results(store, None):
        paths = {name: _located(root, rec) for name, rec in result.provenance.files.items()}
        report.referenced.update(p.resolve() for p in paths.values())
        if model is not None and result.model != model:
            continue
        report.results += 1
        for name, rec in result.provenance.files.items():
            path = paths[name]
            report.files += 1
            where = f"{result.inputs_hash[:16]} {name}"
            if not path.is_file():
                report.findings.append(Finding("missing", str(path), where))
                continue
            if rec.sha256 is None:
                continue
            if path not in digests:
                digests[path] = sha256_file(path)
            if digests[path] != rec.sha256:
                report.findings.append(Finding("mismatch", str(path), where))
    moment = time.time() if now is None else now
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            if TEMP_MARK in path.name:
                if is_stale_temp(path, STALE_AFTER_S, moment):
                    age = moment - path.stat().st_mtime
                    report.findings.append(Finding("stale-temp", str(path), f"{age / 3600:.1f} h"))
                continue
            if not RESULT_FILE.match(path.name) or rel.startswith(STORE_OWNED):
                continue  # not a result file (another IO manager's, the store's blobs)
            if path.resolve() in report.referenced:
                continue
            report.findings.append(Finding("orphan", str(path)))
    return report


def collect_garbage(report: Report, *, dry_run: bool = False) -> list[Finding]:
    """Remove the report's orphans and stale temp files (never a referenced file)."""
    removed = []
    for finding in report.of_kind("orphan", "stale-temp"):
        path = Path(finding.path)
        if path.resolve() in report.referenced:  # belt and braces: never a result's file
            continue
        if not dry_run:
            path.unlink(missing_ok=True)
        removed.append(finding)
    return removed


def identical(a: Any, b: Any) -> bool:
    """Whether two output values are bit-identical (same type/dtype, shape and bytes)."""
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)) or set(a) != set(b):
            return False
        return all(identical(a[k], b[k]) for k in a)
    if isinstance(a, str | bytes) or isinstance(b, str | bytes):
        return type(a) is type(b) and a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if a is None or b is None:
        return a is b
    x, y = np.asarray(a), np.asarray(b)
    if x.dtype.kind == "O" or y.dtype.kind == "O":
        return bool(a == b)
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
