"""Serializers turn Python objects into files and back; users register their own by name."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Protocol

from lume_assets.errors import SerializerError, UnknownSerializerError


class PendingDigest(Protocol):
    """A sha256 being computed in the background while a file is written and synced."""

    def digest(self) -> tuple[str, int]:
        """Wait for and return (sha256 hex, size in bytes); raise if hashing failed."""
        ...

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background work to end (used on error paths)."""
        ...


class Serializer(ABC):
    """Writes one object to one file (`dump`) and reads it back (`load`).

    Subclasses set `name` (the registry key, e.g. "csv") and `extension` (with the dot, e.g.
    ".csv"). `dump` writes to exactly the path it is given; the caller makes it atomic.
    """

    name: ClassVar[str]
    extension: ClassVar[str]

    @abstractmethod
    def dump(self, obj: Any, path: Path) -> None:
        """Write `obj` to the file at `path`."""

    @abstractmethod
    def load(self, path: Path) -> Any:
        """Read the object stored in the file at `path`."""

    def to_bytes(self, obj: Any) -> bytes | None:
        """Return the whole file content for `obj`, or None to write through `dump`.

        Serializers whose output is naturally an in-memory byte string (text, CSV, JSON)
        override this so the file can be checksummed while it is written.
        """
        return None

    def dump_with_sha256(self, obj: Any, path: Path) -> PendingDigest | None:
        """Write like `dump`; return the file's sha256 if it is being computed alongside.

        The default returns None and the caller hashes the finished file; serializers that
        can overlap hashing with writing (HDF5) override this.
        """
        self.dump(obj, path)
        return None

    def __repr__(self) -> str:
        """Show the class and registry name."""
        return f"{type(self).__name__}(name={self.name!r})"


class TextSerializer(Serializer):
    """A `str` as a UTF-8 text file (logs, reports, input decks)."""

    name = "text"
    extension = ".txt"

    def __init__(self, encoding: str = "utf-8") -> None:
        """Use `encoding` for the file bytes."""
        self.encoding = encoding

    def to_bytes(self, obj: Any) -> bytes:
        """Return the encoded text of the string `obj`."""
        if not isinstance(obj, str):
            raise SerializerError(
                f"The text serializer stores a str, got {type(obj).__name__}; "
                "convert the value to text first (e.g. str(value) or json.dumps(value))."
            )
        return obj.encode(self.encoding)

    def dump(self, obj: Any, path: Path) -> None:
        """Write the string `obj` to `path`."""
        path.write_bytes(self.to_bytes(obj))

    def load(self, path: Path) -> str:
        """Return the text of `path`."""
        with open(path, encoding=self.encoding, newline="") as fh:
            return fh.read()


_REGISTRY: dict[str, Serializer] = {}
_LOCK = threading.Lock()
_BUILTINS_LOADED = False


def _ensure_builtins() -> None:
    """Register the built-in serializers (text, hdf5, openpmd_particles) once."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    from lume_assets.storage.hdf5 import HDF5Serializer  # imports h5py lazily
    from lume_assets.storage.particles import ParticleGroupSerializer  # no import until used

    with _LOCK:
        if not _BUILTINS_LOADED:
            _REGISTRY.setdefault(TextSerializer.name, TextSerializer())
            _REGISTRY.setdefault(HDF5Serializer.name, HDF5Serializer())
            _REGISTRY.setdefault(ParticleGroupSerializer.name, ParticleGroupSerializer())
            _BUILTINS_LOADED = True


def register_serializer(serializer: Serializer, *, replace: bool = False) -> Serializer:
    """Register `serializer` under its `name`; refuse to shadow another unless `replace`."""
    if not isinstance(serializer, Serializer):
        raise SerializerError(
            f"{serializer!r} is not a Serializer instance; subclass "
            "lume_assets.storage.serializers.Serializer and register an instance of it."
        )
    name = getattr(serializer, "name", None)
    ext = getattr(serializer, "extension", None)
    if not isinstance(name, str) or not name:
        raise SerializerError(f"{type(serializer).__name__} needs a non-empty class attr `name`.")
    if not isinstance(ext, str) or not ext.startswith("."):
        raise SerializerError(
            f"{type(serializer).__name__}.extension must be a string starting with '.', "
            f"got {ext!r}."
        )
    _ensure_builtins()
    with _LOCK:
        existing = _REGISTRY.get(name)
        if existing is not None and not replace and type(existing) is not type(serializer):
            raise SerializerError(
                f"A serializer named {name!r} is already registered ({existing!r}); "
                "choose another name or pass replace=True."
            )
        _REGISTRY[name] = serializer
    return serializer


def unregister_serializer(name: str) -> None:
    """Remove the serializer registered under `name` (no-op if absent)."""
    with _LOCK:
        _REGISTRY.pop(name, None)


def get_serializer(name: str) -> Serializer:
    """Return the serializer registered as `name`, or raise listing the known names."""
    _ensure_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise UnknownSerializerError(
            f"No serializer is registered under {name!r}; known serializers: {known}. "
            "Register yours with lume_assets.storage.serializers.register_serializer()."
        ) from None


def available_serializers() -> list[str]:
    """Return the sorted names of every registered serializer."""
    _ensure_builtins()
    return sorted(_REGISTRY)
