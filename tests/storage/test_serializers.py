"""Serializer registry: built-ins, a user's own CSV serializer in ~20 lines, unknown names."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lume_assets.errors import SerializerError, UnknownSerializerError
from lume_assets.storage.files import read_file, write_file
from lume_assets.storage.filesystems import LocalFilesystem
from lume_assets.storage.serializers import (
    Serializer,
    TextSerializer,
    available_serializers,
    get_serializer,
    register_serializer,
    unregister_serializer,
)


# --- a user's own serializer: this is the whole of it (README shows the same) ---------------
class CSVSerializer(Serializer):
    """A table as CSV: a list of dicts with the same keys."""

    name = "csv"
    extension = ".csv"

    def dump(self, obj: list[dict[str, Any]], path: Path) -> None:
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(obj[0]))
            writer.writeheader()
            writer.writerows(obj)

    def load(self, path: Path) -> list[dict[str, str]]:
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))


@pytest.fixture
def csv_registered() -> Iterator[Serializer]:
    serializer = register_serializer(CSVSerializer())
    yield serializer
    unregister_serializer("csv")


def test_user_csv_serializer_registers_and_round_trips(csv_registered, tmp_path: Path) -> None:
    assert "csv" in available_serializers()
    assert get_serializer("csv") is csv_registered
    fs = LocalFilesystem(tmp_path)
    rows = [{"energy": "1.5", "charge": "2"}, {"energy": "3.0", "charge": "4"}]
    record = write_file(fs, "scan/table.csv", rows, get_serializer("csv"))
    assert record.serializer == "csv"
    assert (tmp_path / "scan/table.csv").read_text().splitlines()[0] == "energy,charge"
    assert read_file(fs, "scan/table.csv", get_serializer("csv")) == rows


def test_builtins_are_registered() -> None:
    assert {"text", "hdf5"} <= set(available_serializers())
    assert isinstance(get_serializer("text"), TextSerializer)
    assert get_serializer("hdf5").extension == ".h5"


def test_unknown_serializer_lists_known_names() -> None:
    with pytest.raises(UnknownSerializerError) as err:
        get_serializer("parquet")
    message = str(err.value)
    assert "'parquet'" in message
    for known in available_serializers():
        assert known in message


def test_registry_refuses_non_serializers_and_silent_shadowing(csv_registered) -> None:
    with pytest.raises(SerializerError, match="not a Serializer"):
        register_serializer(object())  # type: ignore[arg-type]

    class OtherCSV(CSVSerializer):
        pass

    with pytest.raises(SerializerError, match="already registered"):
        register_serializer(OtherCSV())
    assert get_serializer("csv") is csv_registered
    replacement = register_serializer(OtherCSV(), replace=True)
    assert get_serializer("csv") is replacement


def test_registry_refuses_bad_extension() -> None:
    class NoDot(CSVSerializer):
        name = "nodot"
        extension = "csv"

    with pytest.raises(SerializerError, match="extension"):
        register_serializer(NoDot())
    assert "nodot" not in available_serializers()


def test_text_serializer_round_trip_exact(tmp_path: Path) -> None:
    text = "line 1\r\nünïcödé ✓\n\ttabs\x00nul\n"
    ser = TextSerializer()
    ser.dump(text, tmp_path / "a.txt")
    assert ser.load(tmp_path / "a.txt") == text
    assert (tmp_path / "a.txt").read_bytes() == text.encode("utf-8")


def test_text_serializer_refuses_non_text(tmp_path: Path) -> None:
    with pytest.raises(SerializerError, match="str"):
        TextSerializer().dump({"a": 1}, tmp_path / "a.txt")
