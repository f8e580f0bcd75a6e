"""Managed files as inputs: an upstream's text/HDF5/particle file feeds an input taking a path.

A `file` input bound to an upstream output that lives in its own file (array, image, text,
particles) receives the host path of that file, recorded in the upstream result's provenance.
The file's sha256 joins the downstream's inputs hash (`evaluation.evaluate(input_files=...)`:
a changed file is a cache miss) and is recorded in the result's provenance (`input_files`).

And back: a stored result keeps only a summary of a `ParticleGroup` output (its file holds the
particles), so a cache hit reads the group back from that file (`restore_particles`), checking
the file's sha256 and the particles' content sha256 against the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lume_assets.errors import ModelInputError, StorageError
from lume_assets.io_managers.files import FileIOManager
from lume_assets.models.model import ModelSpec
from lume_assets.storage.files import sha256_file
from lume_assets.storage.particles import is_particle_group, particles_sha256
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


def restore_particles(spec: ModelSpec, record: Result, iom: FileIOManager | None) -> Result:
    """`record` with each ParticleGroup output read back from its stored file (StorageError if
    the file is missing, or its sha256 or its particles differ from the record)."""
    outputs = dict(record.outputs)
    restored = False
    for var in spec.outputs:
        value = outputs.get(var.name)
        if var.kind != "particles" or value is None or is_particle_group(value):
            continue
        where = f"particles output {var.name!r} of result {record.inputs_hash[:12]}"
        file = iom.stored(record.provenance.files.get(var.name)) if iom is not None else None
        want = value.get("particles", {}).get("sha256") if isinstance(value, Mapping) else None
        if file is None or not want:
            raise StorageError(f"{where}: no stored particle file to read it back from.")
        path = iom.filesystem().resolve(file.path)
        if sha256_file(path) != file.sha256:
            raise StorageError(f"{where}: {path} differs from its sha256.")
        group = iom.read_record(file)
        if particles_sha256(group) != want:
            raise StorageError(f"{where}: {path} holds other particles than the record.")
        outputs[var.name], restored = group, True
    return record.model_copy(update={"outputs": outputs}) if restored else record
