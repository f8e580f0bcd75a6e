"""`lume-assets scan` runs the demo scan over a chunk range as one run, printing progress;
`lume-assets approve` then publishes what the gated scan held back."""

import sys
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from lume_assets.cli import cli, main
from lume_assets.storage.result_stores import open_result_store


def test_scan_then_approve_from_the_command_line(lume_settings):
    out = CliRunner().invoke(
        cli,
        ["scan", "focus/grid", "--first", "grid-00003", "--last", "grid-00004"],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    progress = [line for line in lines if line.startswith("focus/grid: ")]
    assert len(progress) == 2
    assert "focus/grid: 1000/2000 points (50%)" in progress[0]
    assert "2000/2000 points (100%)" in progress[1]
    assert "succeeded: 2 partition(s) grid-00003...grid-00004 of focus/grid" in lines[-1]
    store = open_result_store(lume_settings.resolved_results_url())
    assert store.count("focus") == 0  # held for approval
    assert store.count("focus", include_unpublished=True) == 2000
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == 1
        done = instance.get_materialized_partitions(dg.AssetKey(["focus", "grid"]))
    assert done == {"grid-00003", "grid-00004"}

    approved = CliRunner().invoke(cli, ["approve", "focus/grid", "--by", "carol"])
    assert approved.exit_code == 0, approved.output
    assert "2000 result(s) published" in approved.output
    assert store.count("focus") == 2000


def test_scan_of_an_unknown_asset_is_a_clear_error(
    lume_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(sys, "argv", ["lume-assets", "scan", "no/such"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "No asset 'no/such'" in err and "focus/grid" in err
