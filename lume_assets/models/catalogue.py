"""The model catalogue: the models an asset graph (YAML or Python) may name.

A model is found by name — registered from Python with `register_model(spec)`, or as a lazy
`module:attr` reference (imported on first use) — or directly by an importable `module:attr`
reference to a `ModelSpec` (or a zero-argument callable returning one). Lookups that fail raise
`ModelError` with the nearest known names, so a graph loader can point at the fix.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lume_assets.errors import ModelError

if TYPE_CHECKING:
    from lume_assets.models.model import ModelSpec

#: `package.module:attribute` (the attribute may be dotted: `module:Class.SPEC`).
IMPORT_REF = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")

#: Models shipped with lume_assets, resolved lazily (importing them pulls in their physics).
BUILTIN_MODELS = {
    "beam_envelope": "lume_assets.demo.beam_model:BEAM_ENVELOPE",
    "envelope_scan_grid": "lume_assets.demo.pipeline_models:ENVELOPE_SCAN_GRID",
    "envelope_surrogate_fit": "lume_assets.demo.pipeline_models:ENVELOPE_SURROGATE_FIT",
    "surrogate_validation": "lume_assets.demo.pipeline_models:SURROGATE_VALIDATION",
    "envelope_analysis": "lume_assets.demo.pipeline_models:ENVELOPE_ANALYSIS",
}


def nearest(name: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """The `n` candidates closest to `name` (difflib), best first; [] if none is close."""
    return difflib.get_close_matches(str(name), list(candidates), n=n, cutoff=0.5)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`"did you mean 'x'? "` for the nearest candidate, or "" when none is close."""
    close = nearest(name, candidates)
    return f"did you mean {close[0]!r}? " if close else ""


def import_model(ref: str) -> ModelSpec:
    """Import the ModelSpec named by `module:attr` (a spec, or a callable returning one)."""
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
    if not isinstance(obj, ModelSpec) and callable(obj) and not isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:  # noqa: BLE001 - a user factory failing
            raise ModelError(
                f"calling {ref!r} to build its ModelSpec failed: {type(exc).__name__}: {exc}"
            ) from None
    if not isinstance(obj, ModelSpec):
        raise ModelError(
            f"{ref!r} is a {type(obj).__name__}, not a ModelSpec; point at a ModelSpec or a "
            "function returning one."
        )
    return obj


class ModelCatalogue:
    """Models by name: registered specs and lazy `module:attr` references."""

    def __init__(
        self,
        specs: Iterable[ModelSpec] = (),
        references: dict[str, str] | None = None,
    ) -> None:
        """Start with `specs` (by their names) and lazy `references` {name: 'module:attr'}."""
        self._specs: dict[str, ModelSpec] = {}
        self._references: dict[str, str] = dict(references or {})
        for spec in specs:
            self.register(spec)

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
        return sorted({*self._specs, *self._references})

    def __contains__(self, name: object) -> bool:
        """Whether `name` is a catalogue name."""
        return name in self._specs or name in self._references

    def resolve(self, ref: str) -> ModelSpec:
        """The ModelSpec for a catalogue name or an importable `module:attr` reference."""
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
        clone = ModelCatalogue(references=self._references)
        clone._specs = dict(self._specs)
        return clone


#: The process-wide catalogue: built-in models plus whatever `register_model` adds.
CATALOGUE = ModelCatalogue(references=BUILTIN_MODELS)


def register_model(spec: ModelSpec, name: str | None = None, replace: bool = False) -> ModelSpec:
    """Register `spec` in the process-wide catalogue (as `name`) and return it."""
    CATALOGUE.register(spec, name=name, replace=replace)
    return spec


__all__ = [
    "BUILTIN_MODELS",
    "CATALOGUE",
    "IMPORT_REF",
    "ModelCatalogue",
    "did_you_mean",
    "import_model",
    "nearest",
    "register_model",
]
