"""A scan's result rows written by a second process while the scan's own process goes on.

Writing a chunk's records (`put_chunk`: building the rows, the SQL or Mongo round trips) is
most of a large scan of a cheap model, and it holds the GIL, so a thread cannot overlap it with
the next chunk's validation, hashing, cache lookup and file: a process can. `ChunkWriter` keeps
ONE process (forkserver) with the result store opened once; the scan sends each chunk's columns
(numpy arrays, cheap to pickle) with the chunk's shared provenance and creation time, and the
writer rebuilds exactly the `Result`s the scan's process would have built (`construct_results`
over the same dicts: names in the model's order, float64 columns back to the same Python
floats) and writes them with one `put_chunk`. The writes are applied one at a time, in the
order sent, so chunk N's records are committed before chunk N+1's; the scan waits for a
chunk's write before it counts the chunk as done. Only chunks of new scalar results are sent
(cache hits are rewritten by the scan's process, after the writer has caught up).
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from typing import Any

import numpy as np

from lume_assets.storage.result_stores import ResultStore, open_result_store
from lume_assets.storage.results import Provenance, construct_results

__all__ = ["ChunkWriter", "write_columns"]

_STORE: list[ResultStore] = []  # the writer process's store (set by `_open`)


def _open(options: Mapping[str, Any]) -> None:
    """Process initializer: open the result store once."""
    _STORE[:] = [open_result_store(**options)]


def write_columns(
    store: ResultStore,
    identity: tuple[str, str],
    inputs: Mapping[str, np.ndarray],
    outputs: Mapping[str, np.ndarray],
    hashes: Sequence[str],
    published: Sequence[bool],
    provenance: Provenance,
    created: datetime,
) -> int:
    """`put_chunk` the Results of one chunk of new scalar points given as columns."""
    model, version = identity
    names_in, names_out = list(inputs), list(outputs)
    rows_in = zip(*(inputs[n].tolist() for n in names_in), strict=True)
    rows_out = zip(*(outputs[n].tolist() for n in names_out), strict=True)
    rows = [
        {
            "model": model,
            "version": version,
            "inputs": dict(zip(names_in, i, strict=True)),
            "outputs": dict(zip(names_out, o, strict=True)),
            "inputs_hash": h,
            "created": created,
            "provenance": provenance,
            "published": p,
        }
        for i, o, h, p in zip(rows_in, rows_out, hashes, published, strict=True)
    ]
    return store.put_chunk(construct_results(rows))


def _write(*args: Any) -> int:
    """One chunk, in the writer process (its cyclic GC paused as in the scan's loop)."""
    gc.disable()
    try:
        return write_columns(_STORE[0], *args)
    finally:
        gc.collect(1)


class ChunkWriter:
    """One writer process for one scan step: `submit` chunks in order, `close` at the end."""

    def __init__(self, store_options: Mapping[str, Any]) -> None:
        """Start the process and open the store described by `store_options` in it."""
        ctx = multiprocessing.get_context("forkserver")
        self._pool = ProcessPoolExecutor(
            1, mp_context=ctx, initializer=_open, initargs=(dict(store_options),)
        )

    def submit(
        self,
        identity: tuple[str, str],
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, np.ndarray],
        hashes: Sequence[str],
        published: Sequence[bool],
        provenance: Provenance,
        created: datetime,
    ) -> Future[int]:
        """Queue one chunk's records (written after every chunk queued before)."""
        return self._pool.submit(
            _write, identity, inputs, outputs, list(hashes), list(published), provenance, created
        )

    def close(self) -> None:
        """Wait for the queued writes and stop the process."""
        self._pool.shutdown(wait=True, cancel_futures=False)
