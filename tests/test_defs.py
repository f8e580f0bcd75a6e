"""The code location loads and the demo command materializes the demo graph."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lume_assets.cli import cli


def test_definitions_load(lume_home: Path) -> None:
    from lume_assets.definitions import defs

    defs.resolve_asset_graph()
    assert defs.resolve_all_job_defs()


def test_demo_command_materializes_and_reports_paths(lume_home: Path) -> None:
    result = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    assert str(lume_home) in result.output
    files = lume_home / "files"
    assert str(files / "oscillator_trajectory.h5") in result.output
    assert str(files / "oscillator_summary.txt") in result.output
    assert (files / "oscillator_summary.txt").read_text().startswith("damped oscillator")
