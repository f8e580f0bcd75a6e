"""I/O benchmark: HDF5 and text IO managers vs the raw library, same process, as ratios.

Run:  PYTHONPATH=. .venv/bin/python bench/io_bench.py [--mib 256] [--repeat 5] [--dir DIR]

Raw and lume_assets runs alternate; each figure is the best of `repeat` (the machine is shared,
so the minimum is the least noisy estimate). ratio = raw_time / lume_time (target >= 0.9).
"HDF5 write" compares HDF5IOManager.handle_output (temp file, HDF5Serializer with ~1 MiB
chunks, fsync, atomic rename, sha256, dataset metadata) with h5py writing the same array with
the same chunk shape; "raw+fsync" rows time raw h5py followed by an fsync (a durable raw write,
what lume_assets' atomic write also pays); "checksum=False" rows time lume_assets without sha256.
"""

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import h5py
import numpy as np

from lume_assets.io_managers.hdf5 import HDF5IOManager
from lume_assets.io_managers.text import TextIOManager
from lume_assets.storage.hdf5 import chunk_shape


def compare(raw: Callable[[], object], lume: Callable[[], object], repeat: int) -> tuple:
    """Best-of-`repeat` wall times of `raw` and `lume`, run alternately (same machine state)."""
    t_raw, t_lume = [], []
    for _ in range(repeat):
        for fn, times in ((raw, t_raw), (lume, t_lume)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return min(t_raw), min(t_lume)


def fsync_path(path: Path) -> None:
    """fsync one file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def bench_hdf5(root: Path, mib: int, repeat: int) -> list[tuple[str, float, float]]:
    """Write/read a `mib` MiB float64 array: raw h5py vs HDF5IOManager."""
    arr = np.random.default_rng(0).random(mib * (1 << 20) // 8)
    chunks = chunk_shape(arr.shape, arr.dtype.itemsize)
    raw_path = root / "raw.h5"
    io = HDF5IOManager(root_dir=str(root / "lume"))
    io_nock = HDF5IOManager(root_dir=str(root / "lume"), checksum=False)
    in_ctx = dg.build_input_context(
        asset_key="bench_array", upstream_output=dg.build_output_context(asset_key="bench_array")
    )

    def raw_write() -> None:
        with h5py.File(raw_path, "w") as fh:
            fh.create_dataset("x", data=arr, chunks=chunks)

    def raw_write_fsync() -> None:
        raw_write()
        fsync_path(raw_path)

    def raw_read() -> np.ndarray:
        with h5py.File(raw_path, "r") as fh:
            return fh["x"][()]

    def lume_write() -> None:
        io.handle_output(dg.build_output_context(asset_key="bench_array"), {"x": arr})

    def lume_write_no_checksum() -> None:
        io_nock.handle_output(dg.build_output_context(asset_key="bench_array"), {"x": arr})

    def lume_read() -> np.ndarray:
        return io.load_input(in_ctx)["x"]

    lume_write()
    assert np.array_equal(lume_read(), arr)
    with h5py.File(root / "lume/bench_array.h5") as fh:
        assert fh["x"].chunks == chunks
    return [
        (f"HDF5 write {mib} MiB float64", *compare(raw_write, lume_write, repeat)),
        (f"HDF5 write {mib} MiB, raw+fsync", *compare(raw_write_fsync, lume_write, repeat)),
        (
            f"HDF5 write {mib} MiB, raw+fsync vs checksum=False",
            *compare(raw_write_fsync, lume_write_no_checksum, repeat),
        ),
        (f"HDF5 read {mib} MiB float64", *compare(raw_read, lume_read, repeat)),
    ]


def bench_text(root: Path, mib: int, repeat: int) -> list[tuple[str, float, float]]:
    """Write/read a `mib` MiB text: raw open().write/read vs TextIOManager."""
    line = "step=000123 x=1.234567e-03 px=-9.87654e+01 ok\n"
    text = line * (mib * (1 << 20) // len(line))
    raw_path = root / "raw.txt"
    io = TextIOManager(root_dir=str(root / "lume"))
    io_nock = TextIOManager(root_dir=str(root / "lume"), checksum=False)
    in_ctx = dg.build_input_context(
        asset_key="bench_text", upstream_output=dg.build_output_context(asset_key="bench_text")
    )

    def raw_write() -> None:
        with open(raw_path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)

    def raw_write_fsync() -> None:
        raw_write()
        fsync_path(raw_path)

    def raw_read() -> str:
        with open(raw_path, encoding="utf-8", newline="") as fh:
            return fh.read()

    def lume_write() -> None:
        io.handle_output(dg.build_output_context(asset_key="bench_text"), text)

    def lume_write_no_checksum() -> None:
        io_nock.handle_output(dg.build_output_context(asset_key="bench_text"), text)

    def lume_read() -> str:
        return io.load_input(in_ctx)

    lume_write()
    assert lume_read() == text
    return [
        (f"text write {mib} MiB", *compare(raw_write, lume_write, repeat)),
        (f"text write {mib} MiB, raw+fsync", *compare(raw_write_fsync, lume_write, repeat)),
        (
            f"text write {mib} MiB, raw+fsync vs checksum=False",
            *compare(raw_write_fsync, lume_write_no_checksum, repeat),
        ),
        (f"text read {mib} MiB", *compare(raw_read, lume_read, repeat)),
    ]


def main() -> None:
    """Run both benchmarks and print a markdown table of times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lume-io-bench-", dir=args.dir))
    try:
        rows = bench_hdf5(root, args.mib, args.repeat) + bench_text(root, args.mib, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("| operation | raw (s) | lume_assets (s) | ratio raw/lume |")
    print("|---|---|---|---|")
    for name, raw, lume in rows:
        print(f"| {name} | {raw:.3f} | {lume:.3f} | {raw / lume:.2f} |")


if __name__ == "__main__":
    main()
