"""Managed files as inputs: an upstream's text/HDF5/particle file feeds an input taking a path.

A `file` input bound to an upstream output that lives in its own file (array, image, text,
particles) receives the host path of that file, recorded in the upstream result's provenance.
The file's sha256 joins the downstream's inputs hash (`evaluation.evaluate(input_files=...)`:
a changed file is a cache miss) and is recorded in the result's provenance (`input_files`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lume_assets.errors import ModelInputError
from lume_assets.models.model import ModelSpec
from lume_assets.storage.files import sha256_file
from lume_assets.storage.results import Result

#: Output kinds stored as their own managed file.
FILE_OUTPUT_KINDS = ("array", "image", "text", "particles")


def managed_file(loaded: Any, output: str | None, input_name: str, spec: ModelSpec) -> str | None:
    """The path of the upstream file feeding file input `input_name`, or None if not one."""
    var = spec.input_map.get(input_name)
    if var is None or var.kind != "file" or output is None or not isinstance(loaded, Result):
        return None
    record = loaded.provenance.files.get(output)
    if record is None:  # a `file` output: its value already is a path
        return None
    path = getattr(record, "host_path", record)
    if not path:
        raise ModelInputError(
            f"input {input_name!r} of {spec.name!r}: the upstream result records no path for "
            f"output {output!r}; re-materialize the upstream node."
        )
    return path


def file_input_digests(inputs: Mapping[str, Any], names: set[str]) -> dict[str, dict[str, str]]:
    """{input: {path, sha256}} of the managed files fed to `names`."""
    return {n: {"path": str(inputs[n]), "sha256": sha256_file(inputs[n])} for n in sorted(names)}
