"""Content-addressed homes for large result arrays: HDF5 files under the files root, and GridFS.

Both are named by the array's sha256 (dtype + shape + bytes), so a retried or duplicated write of
the same result reuses the blob instead of writing a second copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from lume_assets.errors import StorageError
from lume_assets.storage.encoding import array_from_bytes
from lume_assets.storage.filesystems import LocalFilesystem
from lume_assets.storage.hdf5 import read_node, write_node

_RAW_KINDS = "Mm"  # datetime64/timedelta64: HDF5 has no such type, stored as raw bytes


class HDF5BlobStore:
    """Large arrays as `<prefix>/<aa>/<sha256>.h5` files (dataset "data") under a filesystem."""

    kind = "hdf5"

    def __init__(self, fs: LocalFilesystem, prefix: str = "results/arrays") -> None:
        """Keep blobs under `prefix` inside `fs` (writes go through `fs.atomic_path`)."""
        self.fs = fs
        self.prefix = prefix.strip("/")

    def path_for(self, digest: str) -> str:
        """Return the root-relative path of the blob with this digest."""
        return f"{self.prefix}/{digest[:2]}/{digest}.h5"

    def put_array(self, array: np.ndarray, digest: str) -> dict[str, Any]:
        """Write the array once (atomically) and return its pointer fields."""
        rel = self.path_for(digest)
        if not self.fs.exists(rel):
            with self.fs.atomic_path(rel) as tmp, h5py.File(tmp, "w") as f:
                if array.dtype.kind in _RAW_KINDS:  # no HDF5 type: exact bytes + dtype attr
                    raw = np.frombuffer(np.ascontiguousarray(array).tobytes(), dtype=np.uint8)
                    f.create_dataset("data", data=raw)
                    f["data"].attrs["raw_dtype"] = array.dtype.str
                else:  # the HDF5 layout of storage/hdf5.py, readable by any HDF5 tool
                    write_node(f, "data", array)
        return {"store": self.kind, "path": rel, "host_path": self.fs.host_path(rel)}

    def get_array(self, pointer: Mapping[str, Any]) -> np.ndarray:
        """Read the array a pointer refers to."""
        rel = pointer["path"]
        if not self.fs.exists(rel):
            raise StorageError(
                f"Array file {self.fs.resolve(rel)} is missing; it was written under another "
                "files_root or deleted. Open the store with the original files_root."
            )
        with h5py.File(self.fs.resolve(rel), "r") as f:
            ds = f["data"]
            if "raw_dtype" in ds.attrs:
                return array_from_bytes(
                    ds[()].tobytes(), pointer["dtype"], list(pointer["shape"]), rel
                )
            return np.asarray(read_node(ds))
