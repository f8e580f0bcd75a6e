"""`lume-assets results --columns` reads dotted paths into the record's data only (issue 15 #3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lume_assets.cli import cli
from lume_assets.storage.result_stores import open_result_store
from lume_assets.storage.results import Provenance, Result

CANARY = "lume-columns-canary-value"


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A SQLite store holding one result."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with open_result_store(url, files_root=tmp_path / "files") as store:
        store.put(
            Result(
                model="m",
                version="1",
                inputs={"k": 2.5, "nested": {"a": 7}},
                outputs={"y": 1.25},
                provenance=Provenance(run_id="run-1"),
            )
        )
    return url


def run(url: str, columns: str) -> object:
    """`results m --results-url URL --columns COLUMNS` in-process."""
    return CliRunner().invoke(cli, ["results", "m", "--results-url", url, "--columns", columns])


@pytest.mark.parametrize(
    "columns",
    [
        "__class__.__init__.__globals__.sys.modules.os.environ",
        "model_dump",
        "outputs.y,__dict__",
        "inputs..k",
    ],
)
def test_paths_outside_the_record_are_refused(
    url: str, columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUME_TEST_CANARY", CANARY)
    result = run(url, columns)
    assert CANARY not in result.output
    assert result.exit_code == 2 and "not a dotted path into a result record" in result.output


@pytest.mark.parametrize(
    "columns", ["inputs.__class__.__init__.__globals__", "model.__class__.__init__.__globals__"]
)
def test_attribute_names_under_a_field_are_missing_data(
    url: str, columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUME_TEST_CANARY", CANARY)
    result = run(url, columns)
    assert result.exit_code == 0 and CANARY not in result.output
    assert "function" not in result.output and "module" not in result.output
    assert len(result.output.splitlines()[2].split()) == 3  # hash, date, time: an empty cell


def test_data_paths_still_work(url: str) -> None:
    result = run(url, "inputs.k,inputs.nested.a,outputs.y,provenance.run_id,model")
    assert result.exit_code == 0, result.output
    row = result.output.splitlines()[2]
    for cell in ("2.5", "7", "1.25", "run-1", " m "):
        assert cell in f" {row} "
