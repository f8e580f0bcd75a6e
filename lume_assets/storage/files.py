"""Write an object through a filesystem + serializer atomically and describe the file written."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lume_assets.errors import SerializerError, StorageError
from lume_assets.storage.filesystems import LocalFilesystem
from lume_assets.storage.serializers import PendingDigest, Serializer

_BLOCK = 8 << 20


class FileRecord(BaseModel):
    """A stored file: where it is (root-relative and on the host), its size and checksum."""

    model_config = ConfigDict(frozen=True)

    path: str = Field(description="Path relative to the filesystem root (POSIX).")
    host_path: str = Field(description="Absolute path of the file as the host sees it.")
    bytes: int = Field(ge=0, description="File size in bytes.")
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the file bytes (None when checksumming was turned off).",
    )
    serializer: str = Field(description="Registered name of the serializer that wrote it.")


def sha256_fd(fd: int) -> tuple[str, int]:
    """Return (sha256 hex, size) of the open file descriptor `fd`, read from offset 0."""
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(_BLOCK)
    view = memoryview(buf)
    offset = 0
    while True:
        n = os.preadv(fd, [view], offset)
        if n == 0:
            break
        digest.update(view[:n])
        offset += n
        size += n
    return digest.hexdigest(), size


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 hex digest of the file at `path`."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return sha256_fd(fd)[0]
    finally:
        os.close(fd)


class _Hasher(threading.Thread):
    """Computes a sha256 in the background (hashlib releases the GIL) while I/O goes on."""

    def __init__(self, fd: int = -1, data: bytes | None = None) -> None:
        super().__init__(daemon=True)
        self.fd, self.data = fd, data
        self.result: tuple[str, int] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            if self.data is not None:
                self.result = (hashlib.sha256(self.data).hexdigest(), len(self.data))
            else:
                self.result = sha256_fd(self.fd)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self.error = exc

    def digest(self) -> tuple[str, int]:
        self.join()
        if self.error is not None:
            raise StorageError(f"Hashing the written file failed: {self.error}") from self.error
        assert self.result is not None
        return self.result


def _write_all(path: Path, data: bytes) -> None:
    """Write `data` to `path` in large blocks (each write releases the GIL)."""
    view = memoryview(data)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        offset = 0
        while offset < len(view):
            offset += os.write(fd, view[offset : offset + _BLOCK * 8])
    finally:
        os.close(fd)


def _dump(serializer: Serializer, obj: Any, tmp: Path, checksum: bool) -> PendingDigest | None:
    """Write `obj` to `tmp`; return the hash running alongside the write, if there is one."""
    data = serializer.to_bytes(obj)
    if data is None:
        if not checksum:
            serializer.dump(obj, tmp)
            return None
        return serializer.dump_with_sha256(obj, tmp)
    hasher = _Hasher(data=data) if checksum else None
    if hasher is not None:
        hasher.start()  # hashes the bytes while they are written
    _write_all(tmp, data)
    return hasher


def write_file(
    fs: LocalFilesystem,
    path: str | os.PathLike[str],
    obj: Any,
    serializer: Serializer,
    *,
    checksum: bool = True,
) -> FileRecord:
    """Serialize `obj` to `path` under `fs` atomically and return its `FileRecord`.

    The serializer writes a temp file beside the final name; only a complete, fsynced file is
    renamed over `path`, so a failure or a crash leaves any previous version intact. The
    sha256 is computed alongside the write and the fsync (serializers with `to_bytes` or
    `dump_with_sha256`) or during the fsync; `checksum=False` skips it (sha256 is then None).
    """
    fd = -1
    hasher: PendingDigest | None = None
    try:
        with fs.atomic_path(path) as tmp:
            try:
                hasher = _dump(serializer, obj, tmp, checksum)
            except (SerializerError, StorageError):
                raise
            except Exception as exc:
                raise SerializerError(
                    f"Serializer {serializer.name!r} failed writing {fs.relative(path)}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if hasher is None and checksum:
                fd = os.open(tmp, os.O_RDONLY)
                hasher = _Hasher(fd=fd)
                hasher.start()  # overlaps with the fsync + rename done by atomic_path
        if hasher is not None:
            digest, size = hasher.digest()
        else:
            digest, size = None, fs.resolve(path).stat().st_size
    finally:
        if hasher is not None:
            hasher.join()
        if fd >= 0:
            os.close(fd)
    return FileRecord(
        path=fs.relative(path),
        host_path=fs.host_path(path),
        bytes=size,
        sha256=digest,
        serializer=serializer.name,
    )


def read_file(fs: LocalFilesystem, path: str | os.PathLike[str], serializer: Serializer) -> Any:
    """Load the object stored at `path` under `fs` with `serializer`."""
    target: Path = fs.resolve(path)
    if not target.is_file():
        raise StorageError(
            f"No file at {target}; materialize the asset (or partition) that writes it first."
        )
    try:
        return serializer.load(target)
    except (SerializerError, StorageError):
        raise
    except Exception as exc:
        raise SerializerError(
            f"Serializer {serializer.name!r} failed reading {target}: {type(exc).__name__}: {exc}"
        ) from exc


def write_bytes(
    fs: LocalFilesystem, path: str | os.PathLike[str], data: bytes, kind: str
) -> FileRecord:
    """Write raw `data` (e.g. a PNG plot) to `path` atomically; `kind` names the format."""
    fs.write_bytes(path, data)
    return FileRecord(
        path=fs.relative(path),
        host_path=fs.host_path(path),
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        serializer=kind,
    )
