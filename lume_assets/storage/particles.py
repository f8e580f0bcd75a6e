"""openPMD-beamphysics `ParticleGroup`s as openPMD HDF5 files, and their summary.

The serializer ("openpmd_particles") writes with `ParticleGroup.write` and reads back with
`ParticleGroup(h5=...)`: coordinates round-trip bit-exact. The library (the `lume` extra,
`openpmd-beamphysics`) is imported only when a particle file is written or read; the summary
is read off the object itself, so recording a result never imports it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from lume_assets.errors import SerializerError
from lume_assets.storage.serializers import Serializer

SUMMARY_KEYS = ("n", "charge", "norm_emit_x", "norm_emit_y", "sigma_x", "sigma_y", "mean_energy")


def is_particle_group(value: Any) -> bool:
    """Whether `value` is an openPMD-beamphysics ParticleGroup (without importing the library)."""
    return any(cls.__name__ == "ParticleGroup" for cls in type(value).__mro__)


def particles_sha256(group: Any) -> str:
    """sha256 of a group's species and every coordinate array (its content address)."""
    digest = hashlib.sha256(str(group.species).encode())
    for key in ("x", "px", "y", "py", "z", "pz", "t", "status", "weight"):
        array = np.ascontiguousarray(group[key])
        digest.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def particle_summary(group: Any) -> dict[str, float | int]:
    """n, charge (C), norm_emit_x/y (m), sigma_x/y (m) and mean_energy (eV) of a group."""
    return {
        "n": int(group.n_particle),
        "charge": float(group.charge),
        "norm_emit_x": float(group["norm_emit_x"]),
        "norm_emit_y": float(group["norm_emit_y"]),
        "sigma_x": float(group["sigma_x"]),
        "sigma_y": float(group["sigma_y"]),
        "mean_energy": float(group["mean_energy"]),
    }


def particles_record(group: Any) -> dict[str, Any]:
    """How a ParticleGroup appears in a result record (and its inputs hash): content + summary."""
    return {"particles": {"sha256": particles_sha256(group), **particle_summary(group)}}


def _particle_group_class() -> Any:
    """The ParticleGroup class (SerializerError naming the extra when it is not installed)."""
    try:
        from beamphysics import ParticleGroup
    except ImportError:
        raise SerializerError(
            "particle files need openpmd-beamphysics: pip install 'lume_assets[lume]'."
        ) from None
    return ParticleGroup


class ParticleGroupSerializer(Serializer):
    """A `ParticleGroup` as one openPMD-beamphysics HDF5 file."""

    name = "openpmd_particles"
    extension = ".h5"

    def dump(self, obj: Any, path: Path) -> None:
        """Write the ParticleGroup `obj` to `path` (openPMD HDF5)."""
        if not is_particle_group(obj):
            raise SerializerError(
                f"The openpmd_particles serializer stores a ParticleGroup, got "
                f"{type(obj).__name__}; return a pmd_beamphysics ParticleGroup."
            )
        obj.write(str(path))

    def load(self, path: Path) -> Any:
        """Read the ParticleGroup stored at `path`."""
        return _particle_group_class()(h5=str(path))
