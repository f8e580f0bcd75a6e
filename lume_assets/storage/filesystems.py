"""Filesystems that confine user paths to a root and write every file atomically."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from lume_assets.errors import PathEscapeError, StorageError
from lume_assets.storage.temp_files import sweep_once, temp_name


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry to disk so a rename inside it survives a crash."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_temp_beside(target: Path) -> Path:
    """Create an empty, new temp file next to `target` with the mode a plain open() gives.

    Unlike mkstemp (always 0600), the file is created 0666 and the kernel applies the umask, so
    results written in a container stay readable on the host; O_EXCL makes the name ours alone.
    The name records this process (lume_assets.storage.temp_files), so a later write can tell
    a temp file left by a killed writer from one still being written.
    """
    for _ in range(100):
        tmp = temp_name(target, secrets.token_hex(6))
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise StorageError(f"Could not create a temp file beside {target}; clean up its .tmp- files.")


class LocalFilesystem:
    """A directory tree rooted at `root`; relative paths only, atomic writes, no escapes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Create (if needed) and use `root` as the filesystem root."""
        self.root = Path(root).expanduser().absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self._real_root = Path(os.path.realpath(self.root))

    def __repr__(self) -> str:
        """Show the class and root."""
        return f"{type(self).__name__}(root={str(self.root)!r})"

    # -- paths -------------------------------------------------------------------------------
    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """Return the absolute path of `path` under the root, refusing any escape."""
        raw = os.fspath(path)
        if not raw or raw.strip() == "":
            raise PathEscapeError("An empty path was given; pass a path relative to the root.")
        if "\x00" in raw:
            raise PathEscapeError(f"Path {raw!r} contains a NUL byte; remove it.")
        pure = PurePosixPath(raw.replace("\\", "/"))
        if pure.is_absolute():
            raise PathEscapeError(
                f"Path {raw!r} is absolute; give a path relative to the root {self.root}."
            )
        if any(part == ".." for part in pure.parts):
            raise PathEscapeError(
                f"Path {raw!r} contains '..' and could leave the root {self.root}; "
                "give a path inside it."
            )
        candidate = self.root.joinpath(*pure.parts)
        real = Path(os.path.realpath(candidate))
        if real != self._real_root and self._real_root not in real.parents:
            raise PathEscapeError(
                f"Path {raw!r} resolves to {real}, outside the root {self.root} "
                "(a symlink points out of it); store the file inside the root."
            )
        return candidate

    def relative(self, path: str | os.PathLike[str]) -> str:
        """Return `path` (absolute under the root, or relative) as a root-relative POSIX path."""
        p = Path(path)
        if p.is_absolute():
            try:
                p = p.relative_to(self.root)
            except ValueError:
                raise PathEscapeError(f"Path {p} is not under the root {self.root}.") from None
        return self.resolve(p).relative_to(self.root).as_posix()

    def host_path(self, path: str | os.PathLike[str]) -> str:
        """Return the path of `path` as the host sees it (identity for a local filesystem)."""
        return str(self.resolve(path))

    # -- reads ---------------------------------------------------------------------------------
    def exists(self, path: str | os.PathLike[str]) -> bool:
        """Return whether `path` exists under the root."""
        return self.resolve(path).exists()

    def read_bytes(self, path: str | os.PathLike[str]) -> bytes:
        """Return the bytes of the file at `path`."""
        target = self.resolve(path)
        try:
            return target.read_bytes()
        except FileNotFoundError:
            raise StorageError(f"No file at {target}; was the asset materialized?") from None

    def read_text(self, path: str | os.PathLike[str], encoding: str = "utf-8") -> str:
        """Return the text of the file at `path`."""
        return self.read_bytes(path).decode(encoding)

    # -- writes --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def atomic_path(self, path: str | os.PathLike[str]) -> Iterator[Path]:
        """Yield a temp path beside `path`; on success fsync it and rename it over `path`.

        If the body raises (or the process dies), the final name keeps its previous content and
        the temp file is removed (or, after a kill, left only under a `.tmp-` name, which a
        later write to the same folder removes once its writer is gone).
        """
        target = self.resolve(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.resolve(path)  # re-check: a parent created above must not be a symlink out
        tmp = create_temp_beside(target)
        sweep_once(target.parent)
        try:
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            fsync_dir(target.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def write_bytes(self, path: str | os.PathLike[str], data: bytes) -> Path:
        """Atomically write `data` to `path` and return the final absolute path."""
        with self.atomic_path(path) as tmp:
            tmp.write_bytes(data)
        return self.resolve(path)

    def write_text(self, path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
        """Atomically write `text` to `path` and return the final absolute path."""
        return self.write_bytes(path, text.encode(encoding))

    def delete(self, path: str | os.PathLike[str]) -> None:
        """Remove the file or directory tree at `path` if it exists."""
        target = self.resolve(path)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()


class MountedFilesystem(LocalFilesystem):
    """A host directory mounted into a container, as in LUME-services.

    `mount_path` is the directory on the host; `mount_alias` is where the container sees it.
    Files are read and written through the alias; `host_path` gives the path valid on the host,
    so paths recorded in results can be opened outside the container.
    """

    def __init__(
        self, mount_path: str | os.PathLike[str], mount_alias: str | os.PathLike[str]
    ) -> None:
        """Use `mount_alias` (container side) as root and remember the host `mount_path`."""
        self.mount_path = PurePosixPath(os.fspath(mount_path))
        if not self.mount_path.is_absolute():
            raise StorageError(
                f"mount_path {mount_path!r} must be an absolute host path (e.g. /data/lume)."
            )
        super().__init__(mount_alias)
        self.mount_alias = self.root

    def __repr__(self) -> str:
        """Show host and container paths."""
        host, alias = str(self.mount_path), str(self.root)
        return f"MountedFilesystem(mount_path={host!r}, mount_alias={alias!r})"

    def host_path(self, path: str | os.PathLike[str]) -> str:
        """Return the host path of `path` (relative, or absolute under the alias)."""
        rel = self.relative(path)
        return str(self.mount_path / rel) if rel != "." else str(self.mount_path)

    def from_host_path(self, host_path: str | os.PathLike[str]) -> Path:
        """Translate a host path under `mount_path` to the container path under the alias."""
        hp = PurePosixPath(os.fspath(host_path))
        try:
            rel = hp.relative_to(self.mount_path)
        except ValueError:
            raise PathEscapeError(
                f"Host path {hp} is not under the mount {self.mount_path}; "
                "only files inside the mounted directory are visible in the container."
            ) from None
        return self.resolve(rel.as_posix() or ".")
