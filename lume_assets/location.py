"""Which code location this folder serves, and its Definitions.

Found, in order: `LUME_LOCATION` (`module` or `module@name`); the nearest `pyproject.toml` up from
the current folder with `[tool.dg.project]` (a `lume-assets init` / `dg` project:
`<root_module>.definitions`, named after the project) or `[tool.dagster]` (`module_name`,
`code_location_name`); else the location an installed package announces in the entry point group
`lume_assets.locations` (lume_assets itself announces its demo). `dev`, `launch`, the client and
the CLI all use this one answer, so a location has one name everywhere.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lume_assets.errors import LocationError, LumeError

ENTRY_POINT_GROUP = "lume_assets.locations"


@dataclass(frozen=True)
class Location:
    """A code location: the module holding its `defs`, its name, and its project folder."""

    module: str
    name: str
    root: Path | None = None

    def python_path(self) -> list[Path]:
        """Folders to put on sys.path so the module imports without installing the project."""
        if self.root is None:
            return []
        src = self.root / "src"
        return [src] if src.is_dir() else [self.root]


def _from_pyproject(path: Path) -> Location | None:
    """The location a pyproject.toml declares (dg project or [tool.dagster]), if any."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    tool = data.get("tool", {})
    project = tool.get("dg", {}).get("project")
    if isinstance(project, dict) and project.get("root_module"):
        root = str(project["root_module"])
        module = str(project.get("code_location_target_module") or f"{root}.definitions")
        name = str(project.get("code_location_name") or data.get("project", {}).get("name", root))
        return Location(module=module, name=name, root=path.parent)
    dagster = tool.get("dagster")
    if isinstance(dagster, dict) and dagster.get("module_name"):
        module = str(dagster["module_name"])
        name = str(dagster.get("code_location_name") or module)
        return Location(module=module, name=name, root=path.parent)
    return None


def installed_locations() -> dict[str, str]:
    """Locations announced by installed packages: {name: module}."""
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return {ep.name: ep.value for ep in sorted(eps, key=lambda ep: ep.name)}


def find_location(start: str | Path | None = None) -> Location:
    """The code location for the folder `start` (default: the current folder)."""
    configured = os.environ.get("LUME_LOCATION")
    if configured:
        module, _, name = configured.partition("@")
        return Location(module=module, name=name or module)
    folder = Path(start or Path.cwd()).resolve()
    for parent in (folder, *folder.parents):
        candidate = parent / "pyproject.toml"
        if candidate.is_file():
            found = _from_pyproject(candidate)
            if found is not None:
                return found
    announced = installed_locations()
    if not announced:
        raise LocationError(
            "no code location here: run this in a project folder (lume-assets init NAME makes "
            "one) or set LUME_LOCATION=package.module."
        )
    name, module = next(iter(announced.items()))
    return Location(module=module, name=name)


def workspace_yaml(location: Location) -> str:
    """A Dagster workspace file serving `location` under its one name."""
    lines = [
        "# Written by lume-assets from this folder's code location; edit pyproject.toml instead.",
        "load_from:",
        "  - python_module:",
        f"      module_name: {location.module}",
        f"      location_name: {location.name}",
    ]
    if location.root is not None:
        lines.append(f"      working_directory: {location.root}")
    return "\n".join(lines) + "\n"


def write_workspace(location: Location, folder: Path) -> Path:
    """Write `workspace.yaml` for `location` into `folder` (e.g. DAGSTER_HOME); return its path."""
    path = folder / f"workspace-{location.name}.yaml"
    text = workspace_yaml(location)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def lume_cause(exc: BaseException) -> LumeError | None:
    """The first lume_assets error in an exception's cause chain (Dagster wraps ours)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, LumeError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def resolve_defs(value: Any) -> Any:
    """Definitions from a module attribute: Definitions, `@dg.definitions` or a factory."""
    import dagster as dg

    if isinstance(value, dg.Definitions):
        return value
    if callable(value):
        built = value()
        if isinstance(built, dg.Definitions):
            return built
    raise LocationError(f"{value!r} is not Definitions; define `defs` with @dg.definitions.")


#: Definitions already built in this process, by location, settings and graph-file stamps.
_BUILT: dict[str, Any] = {}


def definitions_key(location: Location) -> str:
    """What a location's definitions depend on besides code: settings and LUME_GRAPHS_DIR."""
    from lume_assets.settings import get_settings

    settings = get_settings()
    folder = settings.graphs_dir
    stamps = [
        (str(path), path.stat().st_mtime_ns, path.stat().st_size)
        for path in (
            sorted(Path(folder).rglob("*.y*ml")) if folder and Path(folder).is_dir() else []
        )
    ]
    return repr((location, settings.model_dump_json(), stamps))


def load_definitions(location: Location | None = None) -> Any:
    """The location's Definitions, built once per process for the current settings and graph
    files (LumeError if the location fails to load)."""
    location = location or find_location()
    key = definitions_key(location)
    if key not in _BUILT:
        _BUILT[key] = _build_definitions(location)
    return _BUILT[key]


def _build_definitions(location: Location) -> Any:
    """Import the location's module and return fresh Definitions (LumeError if it fails)."""
    for path in location.python_path():
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    try:
        fresh = location.module not in sys.modules
        module = importlib.import_module(location.module)
        build = getattr(module, "build_definitions", None)
        # A factory is rebuilt so resources follow the current LUME_* settings -- unless the
        # module was imported just now: its `defs` were then built for these settings already.
        if build is not None and not (fresh and getattr(module, "defs", None) is not None):
            return build()
        return resolve_defs(getattr(module, "defs", None))
    except LumeError:
        raise
    except ImportError as exc:
        raise LocationError(
            f"cannot import code location {location.name!r} ({location.module}): {exc}; install "
            "the project (pip install -e .) or run from its folder."
        ) from None
    except Exception as exc:  # noqa: BLE001 - a user location failing to load
        cause = lume_cause(exc)
        if cause is not None:
            raise cause from None
        raise LocationError(
            f"code location {location.name!r} ({location.module}) failed to load: "
            f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
        ) from None


__all__ = [
    "ENTRY_POINT_GROUP",
    "Location",
    "find_location",
    "installed_locations",
    "load_definitions",
    "lume_cause",
    "workspace_yaml",
    "write_workspace",
]
