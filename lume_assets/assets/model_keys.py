"""Asset keys of a model's assets, and how a downstream model binds to an upstream output."""

from collections.abc import Sequence
from typing import NamedTuple

import dagster as dg

from lume_assets.errors import ModelError
from lume_assets.models.model import ModelSpec

RESULT_OUTPUT = "result"
IO_MANAGER_BY_KIND = {
    "array": "hdf5_io_manager",
    "image": "hdf5_io_manager",
    "text": "text_io_manager",
    "particles": "particles_io_manager",
}


class FromOutput(NamedTuple):
    """Bind an input to one output of an upstream asset's `Result` (or loaded dict).

    `index` (a numpy index tuple) picks part of an array value, e.g. `(-1,)` its last element.
    """

    asset: str | Sequence[str] | dg.AssetKey
    output: str | None
    index: tuple[int | slice, ...] | None = None


#: An upstream binding: an asset key (its loaded value is the input) or a `FromOutput`.
Upstream = str | Sequence[str] | dg.AssetKey | FromOutput


# -- keys ----------------------------------------------------------------------------------------
def prefix_parts(key_prefix: str | Sequence[str] | None) -> list[str]:
    """Normalize a key prefix to a list of path components."""
    if key_prefix is None:
        return []
    return [key_prefix] if isinstance(key_prefix, str) else list(key_prefix)


def model_op_name(spec: ModelSpec, key_prefix: str | Sequence[str] | None = None) -> str:
    """The op (run-config key) of `spec`'s assets under `key_prefix`."""
    return "__".join([*prefix_parts(key_prefix), spec.name])


def file_outputs(spec: ModelSpec) -> list:
    """Outputs stored as their own file asset (array/image → HDF5, text → text file)."""
    return [v for v in spec.outputs if v.kind in IO_MANAGER_BY_KIND]


def asset_name(output: str, node: str | None = None) -> str:
    """Last key component of an output's asset: the output, `<node>_<output>` for a graph node.

    Dagit's lineage card shows only this component, so a graph's nodes read `sim_result`,
    `analysis_result` rather than `result` each.
    """
    return f"{node}_{output}" if node else output


def model_output_key(
    spec: ModelSpec,
    output: str,
    key_prefix: str | Sequence[str] | None = None,
    node: str | None = None,
) -> dg.AssetKey:
    """Asset key holding `output` of `spec` (scalar and file outputs: the result asset)."""
    if output != RESULT_OUTPUT and output not in spec.output_map:
        raise ModelError(
            f"model {spec.name!r} has no output {output!r}; outputs are "
            f"{', '.join(spec.output_map)}."
        )
    own = output if output in {v.name for v in file_outputs(spec)} else RESULT_OUTPUT
    return dg.AssetKey([*prefix_parts(key_prefix), spec.name, asset_name(own, node)])


def output_binding(
    spec: ModelSpec,
    output: str,
    key_prefix: str | Sequence[str] | None = None,
    node: str | None = None,
) -> Upstream:
    """How a downstream model binds an input to `output` of `spec` (for `upstream=`)."""
    key = model_output_key(spec, output, key_prefix, node)
    return key if key.path[-1] == asset_name(output, node) else FromOutput(key, output)


def model_result_key(
    spec: ModelSpec, key_prefix: str | Sequence[str] | None = None, node: str | None = None
) -> dg.AssetKey:
    """Asset key of the model's result record."""
    return dg.AssetKey([*prefix_parts(key_prefix), spec.name, asset_name(RESULT_OUTPUT, node)])


def is_result_path(path: Sequence[str]) -> bool:
    """Whether an asset key path names a model's result record (`.../result`, or
    `graph/node/model/node_result` for a graph node)."""
    last = path[-1] if path else ""
    return last == RESULT_OUTPUT or (len(path) >= 4 and last == asset_name(RESULT_OUTPUT, path[1]))
