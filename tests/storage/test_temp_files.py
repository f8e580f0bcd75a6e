"""Temp files left by killed writers are removed by the next write; one in use never is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lume_assets.storage.filesystems import LocalFilesystem
from lume_assets.storage.processes import ProcessId, is_alive, this_process
from lume_assets.storage.temp_files import (
    STALE_AFTER_S,
    remove_stale_temp_files,
    stale_temp_files,
    temp_name,
)

REPO = Path(__file__).resolve().parents[2]
#: A writer that stops in the middle of an atomic write until it is killed.
WRITER = textwrap.dedent(
    """
    import sys, time
    from lume_assets.storage.filesystems import LocalFilesystem
    with LocalFilesystem(sys.argv[1]).atomic_path("big.bin") as tmp:
        tmp.write_bytes(b"x" * 4096)
        print(tmp, flush=True)
        time.sleep(120)
    """
)


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """A real writer process holding a temp file in tmp_path (killed at teardown)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert proc.stdout is not None
    tmp = Path(proc.stdout.readline().strip())
    yield proc, tmp
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def age(path: Path, seconds: float) -> None:
    """Set the file's modification time `seconds` into the past."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_next_write_removes_the_temp_file_of_a_killed_writer(
    tmp_path: Path, writer: tuple[subprocess.Popen, Path]
) -> None:
    proc, tmp = writer
    assert tmp.exists() and tmp.parent == tmp_path
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert tmp.exists()  # what a kill leaves behind
    LocalFilesystem(tmp_path).write_bytes("other.bin", b"new")
    assert not tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.bin"]


def test_a_temp_file_in_use_is_never_removed_even_when_old(
    tmp_path: Path, writer: tuple[subprocess.Popen, Path]
) -> None:
    proc, tmp = writer
    age(tmp, 10 * STALE_AFTER_S)
    assert stale_temp_files(tmp_path) == []
    LocalFilesystem(tmp_path).write_bytes("other.bin", b"new")
    assert tmp.exists() and proc.poll() is None


def test_unknown_writers_are_judged_by_age_and_other_files_are_never_touched(
    tmp_path: Path,
) -> None:
    elsewhere = ProcessId(host="another-node", pid=os.getpid(), start=1)
    remote = temp_name(tmp_path / "a.h5", "0123456789ab", elsewhere)
    legacy = tmp_path / ".b.h5.tmp-0123456789ab"  # a name without its writer
    reused = temp_name(  # our host, a live pid, but not the process that wrote it
        tmp_path / "c.h5", "0123456789ab", this_process().model_copy(update={"start": 1})
    )
    keep = [tmp_path / "result.h5", tmp_path / ".notes.tmp-mine", tmp_path / "x.tmp-0123456789ab"]
    for path in (remote, legacy, reused, *keep):
        path.write_bytes(b"data")
    assert is_alive(elsewhere) is None  # another host cannot be checked: age decides
    assert stale_temp_files(tmp_path) == [reused]
    for path in (remote, legacy, *keep):
        age(path, STALE_AFTER_S + 60)
    assert sorted(remove_stale_temp_files(tmp_path)) == sorted([remote, legacy, reused])
    assert sorted(tmp_path.iterdir()) == sorted(keep)
    assert stale_temp_files(tmp_path / "missing") == []


def test_this_process_is_alive_and_a_finished_one_is_not() -> None:
    me = this_process()
    assert is_alive(me) is True and me.start > 0
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert is_alive(ProcessId(host=me.host, pid=done.pid)) is False


def test_gc_removes_a_dead_writers_temp_file_and_keeps_one_in_use(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    writer: tuple[subprocess.Popen, Path],
) -> None:
    from lume_assets.storage.integrity import collect_garbage, verify_files
    from lume_assets.storage.result_stores import open_result_store

    proc, in_use = writer
    age(in_use, 10 * STALE_AFTER_S)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = temp_name(
        in_use.parent / "a.h5", "0123456789ab", ProcessId(host=this_process().host, pid=dead.pid)
    )
    left.write_bytes(b"half")  # fresh, but its writer is gone
    with open_result_store(f"sqlite:///{tmp_path_factory.mktemp('db') / 'r.db'}") as store:
        removed = collect_garbage(verify_files(store, tmp_path))
    assert [Path(f.path) for f in removed] == [left]
    assert in_use.exists() and not left.exists() and proc.poll() is None
