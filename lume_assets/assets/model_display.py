"""What Dagit shows of a model besides run metadata: variable tables and kind badges.

The result asset carries `lume/inputs` and `lume/outputs` tables (definition metadata, also
read by remote clients); kinds say where each asset lives (hdf5, text, the result store).
"""

import json
from collections.abc import Sequence
from typing import Any

import dagster as dg

from lume_assets.models.variables import variable_row

#: Definition metadata keys of the variable tables on a model's result asset.
INPUTS_METADATA = "lume/inputs"
OUTPUTS_METADATA = "lume/outputs"
INPUT_SPECS_METADATA = "lume/input_specs"
COLUMNS = ("name", "kind", "default", "units", "allowed", "description")
VARIABLE_SCHEMA = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in COLUMNS])


def variable_spec(var: Any) -> dict[str, Any] | None:
    """The variable's declaration as JSON (None if it does not serialize, e.g. array defaults)."""
    try:
        spec = var.model_dump(mode="json")
        json.dumps(spec)
    except (TypeError, ValueError):
        return None
    return spec


def variables_table(variables: Sequence[Any]) -> dg.TableMetadataValue:
    """A table of variables for definition metadata (defaults as JSON text; '' when none)."""
    rows = []
    for var in variables:
        row = variable_row(var)
        row["default"] = "" if row["default"] is None else json.dumps(row["default"])
        rows.append(dg.TableRecord(row))
    return dg.MetadataValue.table(rows, schema=VARIABLE_SCHEMA)


def variables_metadata(inputs: Sequence[Any], outputs: Sequence[Any]) -> dict[str, Any]:
    """Definition metadata of a model's result asset: its input and output tables, and the
    inputs' declarations (JSON) a remote client checks inputs against before launching."""
    specs = {var.name: variable_spec(var) for var in inputs}
    return {
        INPUTS_METADATA: variables_table(inputs),
        OUTPUTS_METADATA: variables_table(outputs),
        INPUT_SPECS_METADATA: dg.MetadataValue.text(json.dumps(specs)),
    }


#: Dagit kind badges of file outputs, by variable kind.
OUTPUT_KINDS = {
    "array": {"hdf5", "numpy"},
    "image": {"hdf5", "numpy"},
    "text": {"text"},
    "particles": {"hdf5", "openpmd"},
}


def results_store_kind() -> str:
    """Kind of the configured result store: mongodb, sqlite or postgresql."""
    from lume_assets.settings import get_settings

    scheme = get_settings().resolved_results_url().split(":", 1)[0]
    return "mongodb" if scheme.startswith("mongodb") else scheme.split("+", 1)[0]
