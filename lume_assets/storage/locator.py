"""Where a result's files live: ONE pure function from (asset key, partition, file id) to a path.

Every file a result owns is content-addressed by the result's inputs hash:

- unpartitioned: ``<asset key path>/<inputs_hash[:16]><ext>`` (``beam/sigma_x/3f9a0c1d2e4b5a67.h5``)
- partitioned:   ``<asset key path>/<partition>/<inputs_hash[:16]><ext>``

so a run with other inputs never writes over another result's file. A file written without an
inputs hash (a plain asset through a file IO manager) is named by `run_file_id` of its run, so
two runs never share a file either. Paths are POSIX and relative to the files root.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Iterable, Sequence

from lume_assets.errors import StorageError

__all__ = [
    "ID_CHARS",
    "chunk_file_id",
    "partition_file_stem",
    "result_file_path",
    "run_file_id",
]

ID_CHARS = 16  # leading hex characters of the inputs hash in a file name
_HEX = re.compile(r"^[0-9a-f]{16,64}$")


def partition_file_stem(key: str) -> str:
    """Return a single, safe path component for a partition key ('/' and '%' quoted)."""
    stem = urllib.parse.quote(key, safe=" -_.=,+@:|")
    return "%2E" + stem[1:] if stem.startswith(".") else stem


def result_file_path(
    asset_path: Sequence[str], file_id: str, extension: str, partition: str | None = None
) -> str:
    """Return the root-relative path of the file of `file_id` (an inputs hash) for an asset."""
    if not _HEX.match(file_id):
        raise StorageError(
            f"File id {file_id!r} is not a lowercase hex digest of 16-64 characters; pass the "
            "result's inputs hash."
        )
    parts = list(asset_path)  # asset key parts (Dagster-checked) or a configured folder
    if partition is not None:
        parts.append(partition_file_stem(partition))
    return "/".join([*parts, file_id[:ID_CHARS] + extension])


def run_file_id(run_id: str, partition: str | None = None) -> str:
    """Return the file id of an output that has no inputs hash: a digest of its run (+ key)."""
    return hashlib.sha256(f"{run_id}\0{partition or ''}".encode()).hexdigest()


def chunk_file_id(inputs_hashes: Iterable[str]) -> str:
    """Return the file id of a file holding several results (a scan chunk): their digest."""
    digest = hashlib.sha256()
    for h in inputs_hashes:
        digest.update(h.encode())
        digest.update(b"\n")
    return digest.hexdigest()
