"""The model catalogue: the models an asset graph (YAML or Python) may name.

A model is found by name — registered from Python with `register_model(spec)`, announced by an
installed package in the entry point group `lume_assets.models` (name = 'module:ATTR', imported
on first use), or as a lazy `module:attr` reference — or directly by an importable
`package.module:ATTR` reference. A reference must name a `ModelSpec`: nothing found by a
reference is ever called (a graph naming `sys:exit` or `os:abort` is refused, not run). Lookups
that fail raise `ModelError` with the nearest known names, so a graph loader can point at the fix.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lume_assets.errors import ModelError

if TYPE_CHECKING:
    from lume_assets.models.model import ModelSpec

#: `package.module:attribute` (the attribute may be dotted: `module:Class.SPEC`).
IMPORT_REF = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")

#: Entry point group through which installed packages announce models (name -> 'module:ATTR').
ENTRY_POINT_GROUP = "lume_assets.models"


def entry_point_models() -> dict[str, tuple[str, str]]:
    """Models announced by installed packages: {name: ('module:ATTR', distribution name)}."""
    found: dict[str, tuple[str, str]] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found.setdefault(ep.name, (ep.value, dist.name if dist is not None else "?"))
    return found


def nearest(name: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """The `n` candidates closest to `name` (difflib), best first; [] if none is close."""
    return difflib.get_close_matches(str(name), list(candidates), n=n, cutoff=0.5)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`"did you mean 'x'? "` for the nearest candidate, or "" when none is close."""
    close = nearest(name, candidates)
    return f"did you mean {close[0]!r}? " if close else ""


def import_model(ref: str) -> ModelSpec:
    """Import the ModelSpec named by `module:attr`; anything else is refused, never called."""
    from lume_assets.models.model import ModelSpec

    if not IMPORT_REF.match(ref):
        raise ModelError(f"{ref!r} is not an import reference; write 'package.module:ATTRIBUTE'.")
    module_name, attr_path = ref.split(":", 1)
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(
            f"cannot import module {module_name!r} for model {ref!r} ({exc}); check the module "
            "path and that its package is installed in the code location's environment."
        ) from None
    except Exception as exc:  # noqa: BLE001 - a user module failing at import time
        raise ModelError(
            f"importing module {module_name!r} for model {ref!r} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise ModelError(
                f"{module_name!r} has no attribute {attr_path!r}; "
                f"{did_you_mean(part, names)}check the name after ':'."
            )
        obj = getattr(obj, part)
    if not isinstance(obj, ModelSpec):
        kind = f"callable ({type(obj).__name__})" if callable(obj) else type(obj).__name__
        raise ModelError(
            f"{ref!r} is a {kind}, not a ModelSpec; a model reference "
            "must name a ModelSpec object (nothing it names is called) — e.g. "
            "'my_models.models:MY_MODEL = ModelSpec(...)'."
        )
    return obj


class ModelCatalogue:
    """Models by name: registered specs and lazy `module:attr` references."""

    def __init__(
        self,
        specs: Iterable[ModelSpec] = (),
        references: dict[str, str] | None = None,
        entry_points: bool = False,
    ) -> None:
        """Start with `specs`, lazy `references` {name: 'module:attr'} and, if `entry_points`,
        the models installed packages announce (read on first lookup)."""
        self._specs: dict[str, ModelSpec] = {}
        self._references: dict[str, str] = dict(references or {})
        self._sources: dict[str, str] = {}
        self._entry_points = entry_points
        for spec in specs:
            self.register(spec)

    def _load_entry_points(self) -> None:
        """Add the installed packages' models once (names already known keep priority)."""
        if not self._entry_points:
            return
        self._entry_points = False
        for name, (ref, dist) in entry_point_models().items():
            if name not in self._specs and name not in self._references and IMPORT_REF.match(ref):
                self._references[name] = ref
                self._sources[name] = f"entry point ({dist})"

    def source(self, name: str) -> str:
        """Where `name` comes from: 'python', 'entry point (dist)' or 'reference'."""
        self._load_entry_points()
        if name in self._sources:
            return self._sources[name]
        return "python" if name in self._specs else "reference"

    def reference(self, name: str) -> str | None:
        """The 'module:attr' behind a lazy name, if any."""
        self._load_entry_points()
        return self._references.get(name)

    def register(self, spec: ModelSpec, name: str | None = None, replace: bool = False) -> None:
        """Make `spec` available as `name` (default: its own name)."""
        key = name or spec.name
        existing = self._specs.get(key)
        if existing is not None and existing is not spec and not replace:
            raise ModelError(
                f"a different model is already registered as {key!r} "
                f"({existing.name} v{existing.version}); pass replace=True or use another name."
            )
        self._specs[key] = spec
        self._references.pop(key, None)

    def register_reference(self, name: str, ref: str) -> None:
        """Make the ModelSpec at `ref` ('module:attr') available as `name`, imported on use."""
        if not IMPORT_REF.match(ref):
            raise ModelError(f"{ref!r} is not an import reference ('package.module:ATTRIBUTE').")
        self._specs.pop(name, None)
        self._references[name] = ref

    def names(self) -> list[str]:
        """Every name the catalogue knows, sorted."""
        self._load_entry_points()
        return sorted({*self._specs, *self._references})

    def __contains__(self, name: object) -> bool:
        """Whether `name` is a catalogue name."""
        self._load_entry_points()
        return name in self._specs or name in self._references

    def resolve(self, ref: str) -> ModelSpec:
        """The ModelSpec for a catalogue name or an importable `module:attr` reference."""
        self._load_entry_points()
        if ref in self._specs:
            return self._specs[ref]
        if ref in self._references:
            spec = import_model(self._references[ref])
            self._specs[ref] = spec
            return spec
        if ":" in ref:
            return import_model(ref)
        known = self.names()
        raise ModelError(
            f"model {ref!r} is not in the model catalogue; {did_you_mean(ref, known)}"
            f"known models: {', '.join(known) or '(none)'}. Register it from Python with "
            "register_model(spec), or name it as 'package.module:SPEC'."
        )

    def copy(self) -> ModelCatalogue:
        """An independent catalogue with the same entries."""
        clone = ModelCatalogue(references=self._references, entry_points=self._entry_points)
        clone._specs = dict(self._specs)
        clone._sources = dict(self._sources)
        return clone


#: The process-wide catalogue: installed packages' models plus whatever `register_model` adds.
CATALOGUE = ModelCatalogue(entry_points=True)


def register_model(spec: ModelSpec, name: str | None = None, replace: bool = False) -> ModelSpec:
    """Register `spec` in the process-wide catalogue (as `name`) and return it."""
    CATALOGUE.register(spec, name=name, replace=replace)
    return spec


__all__ = [
    "CATALOGUE",
    "ENTRY_POINT_GROUP",
    "IMPORT_REF",
    "ModelCatalogue",
    "did_you_mean",
    "entry_point_models",
    "import_model",
    "nearest",
    "register_model",
]
