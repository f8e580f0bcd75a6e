"""The models a code location serves, kept as a JSON snapshot so listing them imports no Dagster.

Building the definitions (YAML graphs, assets, resources) costs seconds; `models list` and
`models show` only need the `ModelInfo` records. Every time the local backend builds the model
entries it writes them to `<LUME_HOME>/cache/models-<key>.json`, where the key digests what the
entries depend on: the lume_assets source files (path, size, mtime), the YAML graph files, and
the settings. A changed file or setting gives a new key, so a stale snapshot is never read.

Beside the records it keeps, per model, what `lume_assets.api.cache_hits` needs to answer a
cache hit from the result store without a run (recorded only for models where that answer is
certain to be the run's).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lume_assets.api.records import ModelInfo

_PACKAGE = Path(__file__).resolve().parent.parent


def _stamps(folder: Path, pattern: str) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of the files under `folder` matching `pattern`, sorted."""
    out = []
    for path in sorted(folder.rglob(pattern)) if folder.is_dir() else []:
        stat = path.stat()
        out.append((str(path), stat.st_size, stat.st_mtime_ns))
    return out


def _location_packages() -> tuple[list[Any], list[Path]]:
    """The code location this folder serves (module, name, root) and its package folders."""
    from lume_assets.errors import LumeError
    from lume_assets.location import find_location

    try:
        location = find_location()
    except LumeError:
        return ["no location"], []
    top = location.module.split(".")[0]
    packages = [(folder / top).resolve() for folder in location.python_path()]
    return [location.module, location.name, str(location.root)], [
        p for p in packages if p.is_dir() and p != _PACKAGE
    ]


def _location_stamps() -> list[Any]:
    """The code location this folder serves and the stamps of its package's files."""
    stamps, packages = _location_packages()
    for package in packages:
        stamps += [_stamps(package, "*.py"), _stamps(package, "*.y*ml")]
    return stamps


def stamped_folders() -> list[Path]:
    """The folders whose files the snapshot key stamps: lume_assets and the location's package."""
    return [_PACKAGE, *_location_packages()[1]]


def snapshot_key() -> str:
    """A digest of the source, graph files, code location and settings the model entries are
    built from."""
    from lume_assets.settings import get_settings

    settings = get_settings()
    graphs = [settings.graphs_dir] if settings.graphs_dir else []
    parts = [
        settings.model_dump_json(),
        os.environ.get("DAGSTER_HOME", ""),
        _stamps(_PACKAGE, "*.py"),
        _stamps(_PACKAGE, "*.y*ml"),
        _location_stamps(),
        *(_stamps(Path(g), "*.y*ml") for g in graphs),
    ]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]


def snapshot_path() -> Path:
    """Where the snapshot for the current source, graphs and settings lives."""
    from lume_assets.settings import get_settings

    return get_settings().home / "cache" / f"models-{snapshot_key()}.json"


def write_snapshot(
    infos: Iterable[ModelInfo], cache_hits: Mapping[str, Mapping[str, Any]] | None = None
) -> None:
    """Store the model records and, by model name, the facts that let a cache hit be answered
    without a run (atomically; a failure to write only costs speed later)."""
    path = snapshot_path()
    text = json.dumps(
        {
            "models": [i.model_dump(mode="json") for i in infos],
            "cache_hits": {name: dict(facts) for name, facts in (cache_hits or {}).items()},
        }
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob("models-*.json"):
            if old != path:
                old.unlink(missing_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(path)
    except OSError:
        return


def read_snapshot_facts() -> tuple[dict[str, ModelInfo], dict[str, Any]] | None:
    """(model records by name, cache-hit facts by model name) if a snapshot for the current
    state exists, else None."""
    try:
        data = json.loads(snapshot_path().read_text())
        models = {d["name"]: ModelInfo.model_validate(d) for d in data["models"]}
        return models, dict(data.get("cache_hits") or {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def read_snapshot() -> dict[str, ModelInfo] | None:
    """The model records by name if a snapshot for the current state exists, else None."""
    found = read_snapshot_facts()
    return None if found is None else found[0]
