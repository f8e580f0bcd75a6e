"""`H5Node`: a value with HDF5 attributes (the convention of `lume_assets.storage.hdf5`).

Kept apart from the HDF5 code so that building assets (which only wrap values in it) does not
import h5py; the file is read and written by `storage.hdf5`, which re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class H5Node:
    """A group (``value`` is a dict) or dataset (any other value) with HDF5 attributes."""

    value: Any
    attrs: dict[str, Any] = field(default_factory=dict)
