"""write_file: FileRecord contents, atomicity on errors and on SIGKILL, path confinement."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from lume_assets.errors import PathEscapeError, SerializerError, StorageError
from lume_assets.storage.files import FileRecord, read_file, sha256_file, write_file
from lume_assets.storage.filesystems import LocalFilesystem, MountedFilesystem
from lume_assets.storage.hdf5 import HDF5Serializer
from lume_assets.storage.serializers import Serializer, TextSerializer

REPO = Path(__file__).resolve().parents[2]


def test_record_describes_the_file_written(tmp_path: Path) -> None:
    fs = LocalFilesystem(tmp_path)
    arr = np.arange(1000.0)
    record = write_file(fs, "runs/a.h5", {"x": arr}, HDF5Serializer())
    data = (tmp_path / "runs/a.h5").read_bytes()
    assert record == FileRecord(
        path="runs/a.h5",
        host_path=str(tmp_path / "runs/a.h5"),
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        serializer="hdf5",
    )
    assert sha256_file(tmp_path / "runs/a.h5") == record.sha256
    np.testing.assert_array_equal(read_file(fs, "runs/a.h5", HDF5Serializer())["x"], arr)


def test_large_file_hash_spans_several_blocks(tmp_path: Path) -> None:
    text = "0123456789abcdef" * (1 << 20)  # 16 MiB: two hashing blocks
    record = write_file(LocalFilesystem(tmp_path), "big.txt", text, TextSerializer())
    assert record.bytes == len(text)
    assert record.sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_mounted_filesystem_records_the_host_path(tmp_path: Path) -> None:
    fs = MountedFilesystem(mount_path="/data/lume", mount_alias=tmp_path / "mnt")
    record = write_file(fs, "a/report.txt", "hello", TextSerializer())
    assert (tmp_path / "mnt/a/report.txt").read_text() == "hello"
    assert record.host_path == "/data/lume/a/report.txt"
    assert record.path == "a/report.txt"


class ExplodingSerializer(Serializer):
    """Writes part of a file, then fails -- as a serializer hitting bad data mid-way does."""

    name = "exploding"
    extension = ".bin"

    def dump(self, obj: Any, path: Path) -> None:
        with open(path, "wb") as fh:
            fh.write(b"partial" * 1000)
            fh.flush()
            raise ValueError("column 3 is not numeric")

    def load(self, path: Path) -> Any:  # pragma: no cover - never reached
        return path.read_bytes()


def test_serializer_failing_mid_write_leaves_no_file(tmp_path: Path) -> None:
    fs = LocalFilesystem(tmp_path)
    with pytest.raises(SerializerError, match="column 3 is not numeric"):
        write_file(fs, "out/x.bin", object(), ExplodingSerializer())
    assert list((tmp_path / "out").iterdir()) == []  # neither final name nor temp file


def test_serializer_failing_mid_write_keeps_previous_version(tmp_path: Path) -> None:
    fs = LocalFilesystem(tmp_path)
    first = write_file(fs, "x.h5", {"v": np.arange(10)}, HDF5Serializer())
    with pytest.raises(SerializerError, match="Cannot store"):
        # the HDF5 serializer writes "a" then fails on "b": a real mid-write failure
        write_file(fs, "x.h5", {"a": np.ones(10**5), "b": object()}, HDF5Serializer())
    assert sha256_file(tmp_path / "x.h5") == first.sha256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.h5"]
    np.testing.assert_array_equal(read_file(fs, "x.h5", HDF5Serializer())["v"], np.arange(10))


@pytest.mark.parametrize("bad", ["../escape.h5", "/etc/x.h5", "a/../../b.h5"])
def test_write_file_refuses_path_escapes(tmp_path: Path, bad: str) -> None:
    fs = LocalFilesystem(tmp_path / "root")
    with pytest.raises(PathEscapeError):
        write_file(fs, bad, {"x": 1}, HDF5Serializer())
    assert [p.name for p in tmp_path.iterdir()] == ["root"]


def test_read_of_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="materialize"):
        read_file(LocalFilesystem(tmp_path), "nope.h5", HDF5Serializer())


WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from lume_assets.storage.files import write_file
    from lume_assets.storage.filesystems import LocalFilesystem
    from lume_assets.storage.hdf5 import HDF5Serializer
    arrays = {f"block{i}": np.full(2 * 2**20, float(i)) for i in range(8)}  # 8 x 16 MiB
    fs = LocalFilesystem(sys.argv[1])
    print("start", flush=True)
    t0 = time.perf_counter()
    obj = {"version": np.int64(2), "data": arrays}
    # checksum on: chunks allocated first, then written with pwrite while hashed;
    # checksum off: h5py writes the file front to back
    write_file(fs, "result.h5", obj, HDF5Serializer(), checksum=sys.argv[2] == "on")
    print("done", time.perf_counter() - t0, flush=True)
    """
)


def _spawn_writer(root: Path, checksum: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), checksum],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "start"
    return proc


def _wait_for_partial_write(root: Path, proc: subprocess.Popen, nbytes: int) -> None:
    """Return once the writer's temp file has `nbytes` (or the writer has exited).

    The HDF5 file reaches its full size as soon as its chunks are allocated; the array data
    are written into it afterwards, so the caller adds a random delay on top of this.
    """
    deadline = time.monotonic() + 600  # a real condition: however slowly the writer starts
    while proc.poll() is None:
        for tmp in root.glob(".result.h5.tmp-*"):
            try:
                if tmp.stat().st_size >= nbytes:
                    return
            except FileNotFoundError:
                pass
        assert time.monotonic() < deadline, "the writer never reached its write"
        time.sleep(0.0005)


def test_sigkill_during_large_hdf5_write_never_leaves_a_partial_file(tmp_path: Path) -> None:
    fs = LocalFilesystem(tmp_path)
    previous = write_file(fs, "result.h5", {"version": np.int64(1)}, HDF5Serializer())
    total = 8 * 16 * 2**20  # what the writer stores
    rng = random.Random(2)
    killed_mid_write = trials = 0
    # at least 20 kills, 18 of them mid-write: a kill that a loaded machine delivers after the
    # write finished still checks the final file, and another trial is added (at most 60)
    while trials < 20 or (killed_mid_write < 18 and trials < 60):
        i, trials = trials, trials + 1
        proc = _spawn_writer(tmp_path, "on" if i % 2 else "off")
        # kill at a random point of the write: once the temp file reaches 5-95 % of its size
        _wait_for_partial_write(tmp_path, proc, int(rng.uniform(0.05, 0.95) * total))
        time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        if "done" not in out:
            killed_mid_write += 1
        # the final name always holds a complete file: the previous version or the new one
        with h5py.File(tmp_path / "result.h5", "r") as fh:
            version = int(fh["version"][()])
            if version == 1:
                assert sha256_file(tmp_path / "result.h5") == previous.sha256
            else:
                assert version == 2 and len(fh["data"]) == 8
                assert float(fh["data/block7"][-1]) == 7.0
        leftovers = list(tmp_path.glob(".result.h5.tmp-*"))
        assert all(p.stat().st_size < total + 2**20 for p in leftovers)
        for leftover in leftovers:
            leftover.unlink()  # what a kill leaves: only temp names, never the final one
    print(f"{killed_mid_write}/{trials} kills landed mid-write")
    assert killed_mid_write >= 18, f"only {killed_mid_write}/{trials} kills landed mid-write"


def test_checksum_off_records_size_without_hash(tmp_path: Path) -> None:
    record = write_file(
        LocalFilesystem(tmp_path), "a.h5", {"x": 1}, HDF5Serializer(), checksum=False
    )
    assert record.sha256 is None
    assert record.bytes == (tmp_path / "a.h5").stat().st_size
