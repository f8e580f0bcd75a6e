"""Dagit metadata of model assets: inputs/outputs tables, array summaries, the plot, and
self-describing HDF5 values for image outputs."""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import numpy as np

from lume_assets.models.model import ModelSpec
from lume_assets.models.plotting import png
from lume_assets.models.variables import ArrayVariable, ImageVariable, ScalarVariable
from lume_assets.storage.h5node import H5Node
from lume_assets.storage.particles import is_particle_group, particle_summary

_IO_COLUMNS = ("name", "kind", "value", "units", "allowed")


def _show(value: Any) -> str:
    """Short text of a value for a metadata table."""
    if isinstance(value, np.ndarray):
        if value.size and value.dtype.kind in "fiu":
            return f"{value.dtype}{list(value.shape)} min {value.min():.6g} max {value.max():.6g}"
        return f"{value.dtype}{list(value.shape)}"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str) and ("\n" in value or len(value) > 60):
        return f"text, {len(value)} chars"
    return str(value)


def _allowed(var: Any) -> str:
    """Allowed range/shape of a variable as text."""
    if isinstance(var, ScalarVariable):
        return var.describe_allowed()
    if isinstance(var, ArrayVariable):
        rng = f" in [{var.value_range[0]:g}, {var.value_range[1]:g}]" if var.value_range else ""
        return f"shape {var.describe_shape()}{rng}"
    return ""


def io_rows(variables: Sequence[Any], values: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per variable: name, kind, value (arrays summarized), units, allowed range."""
    return [
        {
            "name": v.name,
            "kind": v.kind,
            "value": _show(values.get(v.name)),
            "units": getattr(v, "units", None) or "",
            "allowed": _allowed(v),
        }
        for v in variables
    ]


def io_table(variables: Sequence[Any], values: Mapping[str, Any]) -> dg.MarkdownMetadataValue:
    """Markdown table of variables and their values (one string: cheap to store per event)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(_IO_COLUMNS) + " |",
        "|" + "---|" * len(_IO_COLUMNS),
        *(
            "| " + " | ".join(cell(row[c]) for c in _IO_COLUMNS) + " |"
            for row in io_rows(variables, values)
        ),
    ]
    return dg.MetadataValue.md("\n".join(lines))


def render_plot(
    spec: ModelSpec, inputs: Mapping[str, Any], outputs: Mapping[str, Any]
) -> bytes | None:
    """The model's plot as PNG bytes, or None if the model declares no plot."""
    if spec.plot is None:
        return None
    return png(spec.plot(inputs, outputs))


def file_value(var: Any, value: Any, spec: ModelSpec, inputs_hash: str) -> Any:
    """What the file IO manager writes for an output: images carry their axes as HDF5 attrs."""
    if not isinstance(var, ImageVariable):
        return value
    attrs: dict[str, Any] = {
        "model": spec.name,
        "version": spec.version,
        "inputs_hash": inputs_hash,
        "axis_labels": list(var.axis_labels),
    }
    optional = {
        "units": var.units,
        "axis_units": list(var.axis_units) if var.axis_units else None,
        "x_min": var.x_min,
        "x_max": var.x_max,
        "y_min": var.y_min,
        "y_max": var.y_max,
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    return H5Node(value, attrs)


def output_metadata(var: Any, value: Any) -> dict[str, Any]:
    """Metadata of one file output: shape/dtype/range for arrays, size for text."""
    if isinstance(value, np.ndarray):
        meta: dict[str, Any] = {
            "shape": dg.MetadataValue.text(str(tuple(value.shape))),
            "dtype": dg.MetadataValue.text(str(value.dtype)),
        }
        if value.size and value.dtype.kind in "fiu":
            meta["min"] = dg.MetadataValue.float(float(value.min()))
            meta["max"] = dg.MetadataValue.float(float(value.max()))
        if getattr(var, "units", None):
            meta["units"] = dg.MetadataValue.text(var.units)
        return meta
    if is_particle_group(value):
        return {
            f"particles/{k}": dg.MetadataValue.float(float(v))
            if k != "n"
            else dg.MetadataValue.int(int(v))
            for k, v in particle_summary(value).items()
        }
    if isinstance(value, str):
        return {
            "characters": dg.MetadataValue.int(len(value)),
            "lines": dg.MetadataValue.int(value.count("\n") + (not value.endswith("\n"))),
        }
    return {}
