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

Hostile files cannot poison the sensor: any failure while reading, parsing or validating one file
rejects that file only (the cursor still advances). A file is read through ``O_NOFOLLOW`` (a
symlink is rejected, never followed), capped in size (``max_file_bytes``, default 1 MiB) and
nesting depth (``max_depth``); YAML aliases, anchors' uses, merge keys (``<<``) and duplicate keys
are refused. Error texts name keys and value types, never the file's values.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from lume_assets.errors import SensorInputError
from lume_assets.storage.filesystems import create_temp_beside
from lume_assets.storage.temp_files import temp_name

try:  # libyaml's C parser is ~10x faster than the pure-Python one
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _YamlLoader  # type: ignore[assignment]

REJECTED_DIR = "rejected"
DEFAULT_SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_MAX_FILE_BYTES = 1 << 20
DEFAULT_MAX_DEPTH = 16
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


def read_inbox_file(
    inbox: str | os.PathLike[str], name: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> bytes:
    """Return the bytes of the plain file `name` directly inside `inbox` (no symlink, no path).

    Raises SensorInputError for a name with a path in it, a symlink, a non-regular file or a file
    over `max_bytes`; FileNotFoundError if it is gone. Nothing outside `inbox` is touched.
    """
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        raise SensorInputError(
            f"{_show_name(name)}: not a plain file name inside the inbox; only files directly "
            "in the inbox folder can be inputs."
        )
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    dir_fd = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fd = os.open(name, flags, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (40, 62):  # ELOOP (Linux / BSD): the name is a symbolic link
                raise SensorInputError(
                    f"{_show_name(name)}: is a symbolic link; deliver the file itself."
                ) from None
            raise
    finally:
        os.close(dir_fd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise SensorInputError(f"{_show_name(name)}: not a regular file; deliver a file.")
    with os.fdopen(fd, "rb") as fh:
        if st.st_size > max_bytes:
            raise SensorInputError(
                f"{_show_name(name)}: {st.st_size} bytes, over the {max_bytes}-byte limit "
                "(max_file_bytes); split the inputs or raise the limit."
            )
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SensorInputError(
            f"{_show_name(name)}: over the {max_bytes}-byte limit (max_file_bytes)."
        )
    return data


def _show_name(name: object) -> str:
    """A file name fit for one line of UTF-8 text (odd bytes and controls escaped)."""
    text = name if isinstance(name, str) else repr(name)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)[:200]


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temp file beside it, fsynced, then renamed over it."""
    tmp = create_temp_beside(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _error_file_name(name: str) -> str:
    """`<name>.error.txt`, shortened (keeping a prefix) so that it and the atomic writer's temp
    name beside it stay within the 255-byte file-name limit."""
    limit = 255 - (len(os.fsencode(temp_name(Path("x"), "0" * 12).name)) - 1)
    full = f"{name}.error.txt"
    if len(os.fsencode(full)) <= limit:
        return full
    tag = "~" + hashlib.sha256(os.fsencode(name)).hexdigest()[:8] + ".error.txt"
    keep = name
    while keep and len(os.fsencode(keep + tag)) > limit:
        keep = keep[:-1]
    return keep + tag


class _StrictYamlLoader(_YamlLoader):  # type: ignore[misc, valid-type]
    """A safe YAML loader refusing merge keys, duplicate keys and aliases (C parser kept)."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:  # noqa: ANN401 - yaml API
        """Refuse a node built twice: an alias (`*name`) re-uses an anchored node."""
        if node in self.constructed_objects or node in self.recursive_objects:
            raise _YamlRefused(node, "aliases ('*name') are not allowed; write the value out")
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:  # noqa: ANN401
        """Build a plain dict, refusing merge keys and duplicate keys."""
        if not isinstance(node, yaml.MappingNode):
            raise _YamlRefused(node, "expected a mapping")
        data: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _YamlRefused(key_node, "merge keys ('<<') are not allowed")
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise _YamlRefused(key_node, f"a key of type {type(key).__name__}; use names")
            if key in data:
                raise _YamlRefused(key_node, f"key {_show_name(key)!r} appears twice")
            data[key] = self.construct_object(value_node, deep=deep)
        return data


def _construct_yaml_map(loader: _StrictYamlLoader, node: Any) -> Any:  # noqa: ANN401
    """The map constructor of the strict loader (a generator, as PyYAML expects)."""
    data: dict[Any, Any] = {}
    yield data
    data.update(loader.construct_mapping(node, deep=True))


_StrictYamlLoader.add_constructor("tag:yaml.org,2002:map", _construct_yaml_map)


class _YamlRefused(Exception):
    """A YAML construct the inbox refuses, with where it is."""

    def __init__(self, node: Any, message: str) -> None:  # noqa: ANN401
        """Keep the 1-based line and column of `node` and the message."""
        super().__init__(message)
        mark = getattr(node, "start_mark", None)
        self.where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "?"
        self.message = message


def _check_yaml_events(name: str, text: str, max_depth: int) -> None:
    """Refuse aliases and over-deep nesting from the parser's events, before anything is built.

    libyaml's composer recurses in C, so depth is checked on the flat event stream first.
    """
    depth = 0
    for event in yaml.parse(text, Loader=_YamlLoader):
        if isinstance(event, yaml.AliasEvent):
            raise SensorInputError(
                f"{_show_name(name)}: aliases ('*name') are not allowed in an input file "
                f"(line {event.start_mark.line + 1}); write the value out."
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > max_depth:
                raise SensorInputError(
                    f"{_show_name(name)}: nested deeper than {max_depth} levels "
                    f"(line {event.start_mark.line + 1}); flatten the inputs."
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object from its pairs, refusing duplicate keys (not last-wins)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _YamlRefused(None, f"key {_show_name(key)!r} appears twice")
        data[key] = value
    return data


def _depth_exceeds(value: Any, max_depth: int) -> bool:  # noqa: ANN401
    """Whether containers nest deeper than `max_depth` (iterative: no recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth + 1 > max_depth:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _json_max_depth(text: str, max_depth: int) -> bool:
    """Whether JSON text nests brackets deeper than `max_depth` (outside strings)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif char in "]}":
            depth -= 1
    return False


def parse_inputs(name: str, data: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> dict[str, Any]:
    """Parse a YAML or JSON file into a mapping of inputs, raising SensorInputError if malformed.

    Errors name the file, the place (line/column) and the problem, never the file's values.
    """
    shown = _show_name(name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SensorInputError(
            f"{shown}: not UTF-8 text (bad byte at offset {exc.start}); save the file as UTF-8."
        ) from None
    try:
        if name.lower().endswith(".json"):
            if ("[" in text or "{" in text) and _json_max_depth(text, max_depth):
                raise SensorInputError(
                    f"{shown}: nested deeper than {max_depth} levels; flatten the inputs."
                )
            parsed = json.loads(text, object_pairs_hook=_json_object)
        else:
            _check_yaml_events(name, text, max_depth)
            parsed = yaml.load(text, Loader=_StrictYamlLoader)  # noqa: S506 - a safe loader
    except json.JSONDecodeError as exc:
        raise SensorInputError(
            f"{shown}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}."
        ) from None
    except _YamlRefused as exc:
        raise SensorInputError(f"{shown}: {exc.message} ({exc.where}).") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = _QUOTED.sub("'…'", str(exc.problem or exc.context or "syntax error"))
        raise SensorInputError(f"{shown}: invalid YAML{where}: {problem[:120]}.") from None
    except yaml.YAMLError as exc:
        raise SensorInputError(f"{shown}: invalid YAML ({type(exc).__name__}).") from None
    if not isinstance(parsed, dict):
        kind = "empty" if parsed is None else type(parsed).__name__
        raise SensorInputError(
            f"{shown}: expected a mapping of input names to values, got {kind}; "
            "write one `name: value` line per input."
        )
    bad_keys = [type(k).__name__ for k in parsed if not isinstance(k, str)]
    if bad_keys:
        raise SensorInputError(f"{shown}: input names must be strings, got {bad_keys}.")
    if _depth_exceeds(parsed, max_depth):
        raise SensorInputError(f"{shown}: nested deeper than {max_depth} levels.")
    return parsed


def describe_validation_error(name: str, exc: ValidationError) -> str:
    """Turn a pydantic ValidationError into one line per bad field: field, value type, problem."""
    lines = [f"{_show_name(name)}: {exc.error_count()} invalid input(s):"]
    for err in exc.errors(include_input=True, include_url=False, include_context=False):
        loc = ".".join(_show_name(str(p)) for p in err["loc"]) or "<file>"
        shown = "" if err["type"] == "missing" else f" (got {type(err.get('input')).__name__})"
        lines.append(f"  - {loc}: {redact(err['msg'], err.get('input'))}{shown}")
    return "\n".join(lines)


def redact(message: str, data: Any) -> str:  # noqa: ANN401
    """`message` with every value found in `data` replaced by its type, e.g. `<str>`.

    Validators often quote the offending value; an error about an input file names keys and types
    only, never the file's contents.
    """
    leaves: list[Any] = []
    stack = [data]
    while stack and len(leaves) < 10_000:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif item is not None and not isinstance(item, bool):
            leaves.append(item)
    texts: dict[str, str] = {}
    for leaf in leaves:
        try:
            shown = {repr(leaf), str(leaf)}
        except Exception:  # e.g. an int too long to print: it cannot be in the message either
            continue
        texts.update({text: f"<{type(leaf).__name__}>" for text in shown if len(text) >= 2})
    for text in sorted(texts, key=len, reverse=True)[:1000]:
        if text in message:
            message = message.replace(text, texts[text])
    return _show_name(message) if "\n" not in message else message


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
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        """Watch `inbox_dir` for files ending in `suffixes`, validated with `inputs_model`."""
        self.max_file_bytes = max_file_bytes
        self.max_depth = max_depth
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
                try:  # a symlink is taken, to be rejected (it is never followed)
                    if not (entry.is_file(follow_symlinks=False) or entry.is_symlink()):
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
        if bad or not name.isprintable():
            raise SensorInputError(
                f"{_show_name(name)}: the file name contains control characters or "
                f"{[c for c in bad if c.isprintable()] or 'unprintable ones'}, which cannot be "
                "part of a partition key; rename the file without them."
            )

    def _reject(self, name: str, error: str) -> RejectedFile:
        """Move a malformed file to rejected/ and write its .error.txt beside it (never raises).

        `name` is a directory entry of the inbox (no separators), used as it is: a backslash or
        odd byte in it is an ordinary character here.
        """
        error = error.encode("utf-8", "backslashreplace").decode("utf-8")
        folder = self.inbox / REJECTED_DIR
        try:
            folder.mkdir(exist_ok=True)
            if folder.is_symlink() or not folder.is_dir():
                raise SensorInputError(f"{folder} is not a folder; remove it.")
            target = folder / name
            os.replace(self.inbox / name, target)
            _write_atomic(folder / _error_file_name(name), error.rstrip() + "\n")
            return RejectedFile(name=name, moved_to=target, error=error)
        except Exception as exc:  # noqa: BLE001 - one file must never stop the scan
            reason = _show_name(f"{type(exc).__name__}: {exc}")
            error = f"{error} (could not move: {reason})"
            return RejectedFile(name=name, moved_to=None, error=error)

    def _accept(self, name: str) -> InboxFile | str:
        """Read, hash, parse and validate one file; return it or the error text."""
        path = self.inbox / name
        parsed: Any = None
        try:
            self._check_name(name)
            data = read_inbox_file(self.inbox, name, self.max_file_bytes)
            digest = hashlib.sha256(data).hexdigest()
            parsed = parse_inputs(name, data, self.max_depth)
            inputs = dict(self.validate(parsed))
        except FileNotFoundError:
            raise  # removed between listing and reading: not an error of the file
        except SensorInputError as exc:
            return str(exc)
        except ValidationError as exc:
            return describe_validation_error(name, exc)
        except RecursionError:
            return f"{_show_name(name)}: nested too deeply to read; flatten the inputs."
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return f"{_show_name(name)}: could not read the file ({reason})."
        except Exception as exc:  # noqa: BLE001 - any failure of one file rejects that file only
            problem = redact(str(exc), parsed)
            return f"{_show_name(name)}: invalid inputs ({type(exc).__name__}): {problem}"
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
