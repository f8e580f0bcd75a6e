"""Pausing the cyclic garbage collector around bulk loops (a scan's chunks, a store's writes).

A bulk loop allocates a few objects per point (dicts, Results, rows) that reference counting
frees when the batch is done, but the allocations alone keep triggering collections whose full
passes re-walk the whole heap (Dagster's included): ~1.2 s of CPU per 100,000 focus points in a
scan, ~20 % of its step. These loops make no reference cycles of their own.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector inside the block (restored as it was found)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
