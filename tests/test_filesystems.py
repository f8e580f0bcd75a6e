"""LocalFilesystem / MountedFilesystem: confinement to the root and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lume_assets.errors import PathEscapeError, StorageError
from lume_assets.storage.filesystems import LocalFilesystem, MountedFilesystem


@pytest.mark.parametrize(
    "bad", ["../x", "a/../../x", "/etc/passwd", "", "a/\x00b", "..", "a/b/../../../c"]
)
def test_escape_attempts_are_refused(tmp_path: Path, bad: str) -> None:
    fs = LocalFilesystem(tmp_path / "root")
    with pytest.raises(PathEscapeError):
        fs.write_text(bad, "x")
    assert not (tmp_path / "x").exists()


def test_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    fs = LocalFilesystem(tmp_path / "root")
    (fs.root / "link").symlink_to(outside)
    with pytest.raises(PathEscapeError, match="symlink"):
        fs.write_text("link/f.txt", "x")
    assert list(outside.iterdir()) == []


def test_write_read_roundtrip_and_nested_dirs(tmp_path: Path) -> None:
    fs = LocalFilesystem(tmp_path)
    path = fs.write_bytes("a/b/c.bin", b"\x00\x01")
    assert path == tmp_path / "a/b/c.bin"
    assert fs.read_bytes("a/b/c.bin") == b"\x00\x01"
    assert fs.relative(path) == "a/b/c.bin"


def test_failed_write_keeps_previous_version_and_leaves_no_temp(tmp_path: Path) -> None:
    fs = LocalFilesystem(tmp_path)
    fs.write_text("r.txt", "v1")
    with pytest.raises(RuntimeError):
        with fs.atomic_path("r.txt") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("serializer crashed")
    assert fs.read_text("r.txt") == "v1"
    assert sorted(os.listdir(tmp_path)) == ["r.txt"]


def test_missing_file_error_names_path(tmp_path: Path) -> None:
    fs = LocalFilesystem(tmp_path)
    with pytest.raises(StorageError, match="nope.txt"):
        fs.read_bytes("nope.txt")


def test_mounted_filesystem_maps_container_paths_to_host(tmp_path: Path) -> None:
    fs = MountedFilesystem(mount_path="/data/lume", mount_alias=tmp_path / "mnt")
    written = fs.write_text("run1/out.txt", "hi")
    assert written == tmp_path / "mnt/run1/out.txt"
    assert fs.host_path("run1/out.txt") == "/data/lume/run1/out.txt"
    assert fs.host_path(written) == "/data/lume/run1/out.txt"
    assert fs.from_host_path("/data/lume/run1/out.txt") == written
    with pytest.raises(PathEscapeError):
        fs.from_host_path("/data/other/out.txt")
    with pytest.raises(StorageError):
        MountedFilesystem(mount_path="relative/path", mount_alias=tmp_path)


def test_atomic_writes_get_the_umask_mode_not_mkstemp_0600(tmp_path: Path) -> None:
    fs = LocalFilesystem(tmp_path)
    old = os.umask(0o022)
    try:
        path = fs.write_text("shared.txt", "readable by the host user")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
