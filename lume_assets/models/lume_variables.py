"""Read LUME-style `variables.yml` files (lume-model's `input_variables` / `output_variables`).

Both LUME formats are read: the old one (`type: scalar`, `default`, `range`) and today's
lume-base / lume-torch one (`variable_class: ScalarVariable | NDVariable | ParticleGroupVariable`
with `default_value`, `value_range`, `unit`, `read_only`), as written by `LUMETorch.yaml()`.

LUME's `scalar` (default, `range`/`value_range`, units, is_constant) and `image` (a 2-D array
with `x_label`/`y_label` or `axis_labels`, `axis_units`, `x_min`..`y_max`, a default given inline or
as a `.npy` file beside the YAML) are read, plus lume_assets' own `array`, `text` and `file`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import yaml
from pydantic import TypeAdapter, ValidationError

from lume_assets.errors import ModelError
from lume_assets.models.variables import Variable, check_unique

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Variable)
_KINDS = {"scalar", "image", "array", "text", "file", "particles"}


class VariableSet(NamedTuple):
    """The (inputs, outputs) pair read from a variables file."""

    inputs: list[Any]
    outputs: list[Any]


#: lume-base / lume-torch `variable_class` -> our kind
VARIABLE_CLASSES = {
    "ScalarVariable": "scalar",
    "TorchScalarVariable": "scalar",
    "IntVariable": "scalar",
    "NDVariable": "array",
    "TorchNDVariable": "array",
    "ParticleGroupVariable": "particles",
    "StrVariable": "text",
}


def _variable_class_to_old(name: str, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Rewrite a lume-base `variable_class` mapping in the old LUME field names."""
    data = dict(raw)
    cls = str(data.pop("variable_class"))
    if cls not in VARIABLE_CLASSES:
        raise ModelError(
            f"{where}: variable {name!r} has variable_class {cls!r}; supported classes are "
            f"{', '.join(sorted(VARIABLE_CLASSES))}."
        )
    data["type"] = VARIABLE_CLASSES[cls]
    data.pop("default_validation_config", None)
    if "default_value" in data:
        data["default"] = data.pop("default_value")
    if "unit" in data:
        data["units"] = data.pop("unit")
    if data["type"] == "array":
        data["shape"] = tuple(data.get("shape") or ()) or None
        if data.get("default") is None:
            data.pop("default", None)
    for key in ("value_range", "units"):  # lume-base writes explicit nulls
        if key in data and data[key] is None:
            data.pop(key)
    return data


def _lume_to_ours(name: str, raw: Mapping[str, Any], base_dir: Path | None, where: str) -> dict:
    """Translate one LUME variable mapping into this package's field names."""
    if "variable_class" in raw:
        raw = _variable_class_to_old(name, raw, where)
    data = dict(raw)
    read_only = bool(data.pop("read_only", False))
    kind = str(data.pop("type", data.pop("kind", "scalar"))).lower()
    if kind not in _KINDS:
        raise ModelError(
            f"{where}: variable {name!r} has type {kind!r}; supported types are "
            f"{', '.join(sorted(_KINDS))}."
        )
    declared = str(data.pop("name", name))
    if declared != name:
        raise ModelError(f"{where}: variable key {name!r} declares a different name {declared!r}.")
    # LUME names are often PV-like ("SOL1:solenoid_field_scale"); keep them as the alias.
    ident = re.sub(r"\W", "_", name)
    ident = ident if re.match(r"[A-Za-z_]", ident) else f"v_{ident}"
    out: dict[str, Any] = {"kind": kind, "name": ident}
    if ident != name:
        out["alias"] = name
    if "range" in data:
        data["value_range"] = data.pop("range")
    if read_only:
        out["read_only"] = True
    for lume_only in ("parent_variable", "precision", "value", "variable_type"):
        data.pop(lume_only, None)
    if kind == "image":
        x_label = data.pop("x_label", None)
        y_label = data.pop("y_label", None)
        if x_label is not None or y_label is not None:
            data["axis_labels"] = (x_label or "x", y_label or "y")
        for key in ("x_min_variable", "x_max_variable", "y_min_variable", "y_max_variable"):
            data.pop(key, None)
        default = data.get("default")
        if isinstance(default, str):
            if base_dir is None:
                raise ModelError(f"{where}: image {name!r} default {default!r} needs a base dir.")
            npy = (base_dir / default).resolve()
            if not npy.is_file():
                raise ModelError(f"{where}: image {name!r} default file {npy} does not exist.")
            data["default"] = np.load(npy).tolist()
        elif isinstance(default, np.ndarray):
            data["default"] = default.tolist()
    out.update(data)
    return out


def variables_from_dict(
    doc: Mapping[str, Any], *, base_dir: Path | None = None, where: str = "variables"
) -> VariableSet:
    """Build (inputs, outputs) from a parsed LUME variables document."""
    if not isinstance(doc, Mapping) or not ("input_variables" in doc or "output_variables" in doc):
        raise ModelError(
            f"{where}: expected a mapping with 'input_variables' and 'output_variables'."
        )
    sections: list[list[Any]] = []
    for section, role in (("input_variables", "input"), ("output_variables", "output")):
        entries = doc.get(section) or {}
        if isinstance(entries, list):  # lume-model 1.x also allows a list of mappings
            entries = {e["name"]: e for e in entries}
        variables = []
        for name, raw in entries.items():
            data = _lume_to_ours(str(name), raw or {}, base_dir, where)
            try:
                variables.append(_ADAPTER.validate_python(data))
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'][1:])) or 'value'}: {e['msg']}"
                    for e in exc.errors()
                )
                raise ModelError(
                    f"{where}: {role} variable {name!r} is invalid: {problems}"
                ) from None
        check_unique(variables, role)  # type: ignore[arg-type]
        sections.append(variables)
    return VariableSet(sections[0], sections[1])


def load_variables(path: str | Path) -> VariableSet:
    """Load (inputs, outputs) from a LUME `variables.yml` file."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"variables file {path} does not exist.") from None
    except yaml.YAMLError as exc:
        raise ModelError(f"variables file {path} is not valid YAML: {exc}") from None
    return variables_from_dict(doc, base_dir=path.parent, where=str(path))
