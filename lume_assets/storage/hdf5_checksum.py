"""Write an HDF5 file and compute its sha256 while its large arrays are being written.

Hashing a finished file costs one more pass over its bytes. Here the file's layout is fixed
first: every group, attribute and small dataset is written, every large plain numeric array
gets all its chunks allocated up front (early allocation, no fill, no filters), and the file is
closed -- so every byte HDF5 will ever write is on disk. The arrays' data then go straight into
their chunk regions with `os.pwrite` (an unfiltered chunk's bytes are the array's memory in
C order, the edge chunks zero-padded), while a background thread hashes the file in order:
metadata regions read back from disk, chunk regions from the very buffers being written.
Both `pwrite` and hashlib release the GIL, so the two passes overlap. The file is ordinary
HDF5: h5py and any other reader see exactly the arrays.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lume_assets.storage.hdf5 import WriteOptions, write_root


@dataclass
class _Segment:
    """A byte range [start, end) of the file; `data` holds its bytes for chunk regions."""

    start: int
    end: int
    data: memoryview | None = None


def _chunk_bytes(arr: np.ndarray, offset: tuple[int, ...], chunks: tuple[int, ...]) -> memoryview:
    """The bytes HDF5 stores for the chunk at `offset`: C-order data, edges zero-padded."""
    view = arr[tuple(slice(o, o + c) for o, c in zip(offset, chunks, strict=True))]
    if view.shape != chunks:
        padded = np.zeros(chunks, dtype=arr.dtype)
        padded[tuple(slice(0, n) for n in view.shape)] = view
        view = padded
    elif not view.flags.c_contiguous:
        view = np.ascontiguousarray(view)
    return memoryview(view.reshape(-1).view(np.uint8))


def _chunk_segments(ds: h5py.Dataset, arr: np.ndarray) -> list[_Segment]:
    """Every chunk region of the (early-allocated, unfiltered) dataset `ds` with its bytes."""
    segs = []
    for i in range(ds.id.get_num_chunks()):
        info = ds.id.get_chunk_info(i)
        data = _chunk_bytes(arr, tuple(info.chunk_offset), ds.chunks)
        if info.byte_offset is None or info.size != data.nbytes or info.filter_mask:
            raise ValueError(f"unexpected chunk layout in {ds.name}")
        segs.append(_Segment(info.byte_offset, info.byte_offset + info.size, data))
    return segs


def _plan(chunks: list[_Segment], eof: int) -> list[_Segment]:
    """The whole file [0, eof): chunk regions and the metadata regions between them."""
    plan: list[_Segment] = []
    pos = 0
    for seg in sorted(chunks, key=lambda s: s.start):
        if seg.start < pos or seg.end > eof:
            raise ValueError("overlapping or out-of-file chunk regions")
        if seg.start > pos:
            plan.append(_Segment(pos, seg.start))
        plan.append(seg)
        pos = seg.end
    if pos < eof:
        plan.append(_Segment(pos, eof))
    return plan


class _PlanHasher(threading.Thread):
    """Hashes the planned regions in file order (metadata read from disk, chunks from memory)."""

    def __init__(self, path: Path, plan: list[_Segment]) -> None:
        super().__init__(daemon=True)
        self.path, self.plan = path, plan
        self.digest_hex: str | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            digest = hashlib.sha256()
            fd = os.open(self.path, os.O_RDONLY)
            try:
                for seg in self.plan:
                    if seg.data is None:
                        data = os.pread(fd, seg.end - seg.start, seg.start)
                        if len(data) != seg.end - seg.start:
                            raise OSError(f"short read of {self.path} at byte {seg.start}")
                        digest.update(data)
                    else:
                        digest.update(seg.data)
            finally:
                os.close(fd)
            self.digest_hex = digest.hexdigest()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
            self.error = exc

    def digest(self) -> tuple[str, int]:
        """Wait for the hash; return (sha256 hex, file size)."""
        self.join()
        if self.error is not None:
            raise self.error
        assert self.digest_hex is not None
        return self.digest_hex, self.plan[-1].end if self.plan else 0


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    """Write all of `data` at `offset`."""
    done = 0
    while done < data.nbytes:
        done += os.pwrite(fd, data[done:], offset + done)


def dump_hashed(obj: Any, path: Path, options: WriteOptions) -> _PlanHasher | None:
    """Write `obj` to the HDF5 file `path`; return its running hasher, or None if no large array.

    With None the file is complete and the caller hashes it the ordinary way. The hasher may
    still be running when this returns (it overlaps with the caller's fsync); call `digest()`.
    """
    deferred: list[tuple[h5py.Dataset, np.ndarray]] = []
    with h5py.File(path, "w", track_order=True) as fh:
        write_root(fh, obj, replace(options, deferred=deferred))
        try:
            chunks = [seg for ds, arr in deferred for seg in _chunk_segments(ds, arr)]
        except ValueError:  # a layout we cannot mirror: let HDF5 write the data itself
            for ds, arr in deferred:
                ds[...] = arr
            return None
    if not deferred:
        return None
    eof = os.path.getsize(path)
    try:
        hasher: _PlanHasher | None = _PlanHasher(path, _plan(chunks, eof))
    except ValueError:  # unexpected layout: write the data, the caller hashes the file
        hasher = None
    if hasher is not None:
        hasher.start()
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            for seg in chunks:
                assert seg.data is not None
                _pwrite_all(fd, seg.data, seg.start)
        finally:
            os.close(fd)
        if hasher is not None and os.path.getsize(path) != eof:
            raise OSError(f"{path} changed size while its arrays were written")
    except BaseException:
        if hasher is not None:
            hasher.join()
        raise
    return hasher
