"""Scan an inbox directory for new or changed model-input files (Dagster-free core of the sensor).

One file (YAML or JSON mapping of model inputs) is one evaluation. A scan returns the files that
are new or changed since the cursor, each parsed and validated, and moves malformed files to
`<inbox>/rejected/` beside a `<name>.error.txt` that says what was wrong.

Change detection is stat-based and the cursor stays small whatever the number of files:

* ``hwm`` — the highest change time (``st_ctime_ns``) already processed. ctime changes on every
  write *and* on a rename into the inbox (unlike mtime, which ``mv``/``cp -p``/``rsync -a``
  preserve), so any delivered or rewritten file has ``ctime > hwm`` and is seen exactly once.
* ``tie`` — name → stat signature (inode, size, mtime) of the files processed whose ctime equals
  ``hwm``: filesystem timestamps are coarse, so a file written or rewritten during the scan may
  share it; a name missing from ``tie`` or with another signature is picked up next time.
* ``recent`` — name → content hash of the last ``max_recent`` accepted files, so a re-delivered
  identical file is skipped without a run request (the run_key also dedupes it in Dagster).

Only files whose change time is older than ``now - settle_seconds`` are taken: writers should
write to a hidden temp name and rename (hidden and non-matching files are ignored), or set a
settle time so half-written files are not read.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from lume_assets.errors import LumeError, SensorInputError
from lume_assets.storage.filesystems import LocalFilesystem

try:  # libyaml's C loader is ~10x faster than the pure-Python one
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _YamlLoader  # type: ignore[assignment]

REJECTED_DIR = "rejected"
DEFAULT_SUFFIXES = (".yaml", ".yml", ".json")
CURSOR_VERSION = 1
# Dagster refuses partition keys holding these (its INVALID_PARTITION_SUBSTRINGS, plus the "|"
# that joins multi-partition keys).
_BAD_KEY_CHARS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0", "|")

InputsValidator = Callable[[dict[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class InboxFile:
    """An accepted input file: its partition key, content hash and validated inputs."""

    name: str
    path: Path
    sha256: str
    inputs: dict[str, Any]

    @property
    def run_key(self) -> str:
        """Return the run key: file path + content hash (a re-delivered file maps to the same)."""
        return f"{self.path}@{self.sha256}"


@dataclass(frozen=True)
class RejectedFile:
    """A malformed input file, where it was moved and why."""

    name: str
    moved_to: Path | None
    error: str


@dataclass
class ScanResult:
    """What one scan found: accepted files (in change order), rejected files, the new cursor."""

    accepted: list[InboxFile] = field(default_factory=list)
    rejected: list[RejectedFile] = field(default_factory=list)
    skipped_unchanged: int = 0
    deferred: int = 0
    cursor: str = ""


@dataclass
class InboxCursor:
    """The sensor's compact, JSON-serialisable state (see the module docstring)."""

    hwm: int = 0
    tie: dict[str, str] = field(default_factory=dict)
    recent: dict[str, str] = field(default_factory=dict)

    @classmethod
    def loads(cls, raw: str | None) -> InboxCursor:
        """Parse a cursor string; an empty or unreadable cursor starts from scratch."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            if data.get("v") != CURSOR_VERSION:
                return cls()
            return cls(
                hwm=int(data.get("hwm", 0)),
                tie=dict(data.get("tie", {})),
                recent=dict(data.get("recent", {})),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()

    def dumps(self) -> str:
        """Serialise the cursor as compact JSON."""
        return json.dumps(
            {"v": CURSOR_VERSION, "hwm": self.hwm, "tie": self.tie, "recent": self.recent},
            separators=(",", ":"),
        )


def parse_inputs(name: str, data: bytes) -> dict[str, Any]:
    """Parse a YAML or JSON file into a mapping of inputs, raising SensorInputError if malformed."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SensorInputError(f"{name}: not UTF-8 text ({exc}); save the file as UTF-8.") from None
    try:
        if name.lower().endswith(".json"):
            parsed = json.loads(text)
        else:
            parsed = yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a safe loader
    except json.JSONDecodeError as exc:
        raise SensorInputError(
            f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}."
        ) from None
    except yaml.YAMLError as exc:
        raise SensorInputError(f"{name}: invalid YAML: {exc}".rstrip(".") + ".") from None
    if not isinstance(parsed, dict):
        kind = "empty" if parsed is None else type(parsed).__name__
        raise SensorInputError(
            f"{name}: expected a mapping of input names to values, got {kind}; "
            "write one `name: value` line per input."
        )
    bad_keys = [k for k in parsed if not isinstance(k, str)]
    if bad_keys:
        raise SensorInputError(f"{name}: input names must be strings, got {bad_keys!r}.")
    return parsed


def describe_validation_error(name: str, exc: ValidationError) -> str:
    """Turn a pydantic ValidationError into one line per bad field: field, value, problem."""
    lines = [f"{name}: {exc.error_count()} invalid input(s):"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<file>"
        value = err.get("input")
        shown = "" if err["type"] == "missing" else f" (got {value!r})"
        lines.append(f"  - {loc}: {err['msg']}{shown}")
    return "\n".join(lines)


def make_validator(inputs_model: type[BaseModel] | InputsValidator | None) -> InputsValidator:
    """Return a function that validates a parsed mapping, raising SensorInputError when bad."""
    if inputs_model is None:
        return lambda data: data
    if isinstance(inputs_model, type) and issubclass(inputs_model, BaseModel):
        model = inputs_model

        def _validate(data: dict[str, Any]) -> Mapping[str, Any]:
            return model.model_validate(data).model_dump(mode="json")

        return _validate
    return inputs_model


class InboxScanner:
    """Finds new/changed input files in a directory and rejects malformed ones."""

    def __init__(
        self,
        inbox_dir: str | os.PathLike[str],
        *,
        inputs_model: type[BaseModel] | InputsValidator | None = None,
        suffixes: tuple[str, ...] = DEFAULT_SUFFIXES,
        settle_seconds: float = 0.0,
        max_per_scan: int | None = None,
        max_recent: int = 512,
    ) -> None:
        """Watch `inbox_dir` for files ending in `suffixes`, validated with `inputs_model`."""
        self.inbox = Path(inbox_dir).expanduser().absolute()
        self.validate = make_validator(inputs_model)
        self.suffixes = tuple(s.lower() for s in suffixes)
        self.settle_ns = int(settle_seconds * 1e9)
        self.max_per_scan = max_per_scan
        self.max_recent = max_recent

    # -- listing ---------------------------------------------------------------------------------
    def _candidates(
        self, cursor: InboxCursor, now_ns: int
    ) -> tuple[list[tuple[int, str, str]], int]:
        """Return (ctime_ns, name, signature) of files changed since the cursor, oldest first."""
        cutoff = now_ns - self.settle_ns
        found: list[tuple[int, str, str]] = []
        deferred = 0
        with os.scandir(self.inbox) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or not name.lower().endswith(self.suffixes):
                    continue
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # removed while listing
                    continue
                ctime = st.st_ctime_ns
                if ctime < cursor.hwm:
                    continue
                signature = f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
                if ctime == cursor.hwm and cursor.tie.get(name) == signature:
                    continue
                if ctime > cutoff:
                    deferred += 1
                    continue
                found.append((ctime, name, signature))
        found.sort()
        return found, deferred

    # -- one file --------------------------------------------------------------------------------
    def _check_name(self, name: str) -> None:
        """Refuse names Dagster cannot use as a partition key."""
        bad = [c for c in _BAD_KEY_CHARS if c in name]
        if bad:
            raise SensorInputError(
                f"{name}: the file name contains {bad!r}, which cannot be part of a partition "
                "key; rename the file without them."
            )

    def _reject(self, name: str, error: str) -> RejectedFile:
        """Move a malformed file to rejected/ and write its .error.txt beside it."""
        rejected = LocalFilesystem(self.inbox / REJECTED_DIR)
        try:
            rejected.write_text(f"{name}.error.txt", error.rstrip() + "\n")
            target = rejected.resolve(name)
            os.replace(self.inbox / name, target)
            return RejectedFile(name=name, moved_to=target, error=error)
        except (OSError, LumeError) as exc:
            return RejectedFile(name=name, moved_to=None, error=f"{error} (could not move: {exc})")

    def _accept(self, name: str) -> InboxFile | str:
        """Read, hash, parse and validate one file; return it or the error text."""
        path = self.inbox / name
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        try:
            self._check_name(name)
            inputs = dict(self.validate(parse_inputs(name, data)))
        except SensorInputError as exc:
            return str(exc)
        except ValidationError as exc:
            return describe_validation_error(name, exc)
        except (LumeError, ValueError, TypeError) as exc:
            return f"{name}: invalid inputs: {exc}"
        return InboxFile(name=name, path=path, sha256=digest, inputs=inputs)

    # -- the scan --------------------------------------------------------------------------------
    def scan(self, raw_cursor: str | None, now_ns: int | None = None) -> ScanResult:
        """Return the files new or changed since `raw_cursor` and the cursor after them."""
        cursor = InboxCursor.loads(raw_cursor)
        result = ScanResult()
        if not self.inbox.is_dir():
            self.inbox.mkdir(parents=True, exist_ok=True)
        candidates, result.deferred = self._candidates(cursor, now_ns or time.time_ns())
        if self.max_per_scan is not None and len(candidates) > self.max_per_scan:
            result.deferred += len(candidates) - self.max_per_scan
            candidates = candidates[: self.max_per_scan]
        for ctime, name, signature in candidates:
            if ctime > cursor.hwm:
                cursor.hwm, cursor.tie = ctime, {}
            cursor.tie[name] = signature
            try:
                outcome = self._accept(name)
            except FileNotFoundError:  # removed between listing and reading
                continue
            except OSError as exc:
                outcome = f"{name}: could not read the file: {exc}"
            if isinstance(outcome, str):
                result.rejected.append(self._reject(name, outcome))
                cursor.recent.pop(name, None)
                continue
            short = outcome.sha256[:16]
            if cursor.recent.get(name) == short:
                result.skipped_unchanged += 1
                continue
            cursor.recent.pop(name, None)  # re-insert at the end: most recent last
            cursor.recent[name] = short
            result.accepted.append(outcome)
        while len(cursor.recent) > self.max_recent:
            cursor.recent.pop(next(iter(cursor.recent)))
        result.cursor = cursor.dumps()
        return result
