"""The code location loads and the demo command materializes the demo graph."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lume_assets.cli import cli


def test_definitions_load(lume_home: Path) -> None:
    from lume_assets.demo.definitions import defs

    defs.resolve_asset_graph()
    assert defs.resolve_all_job_defs()


def test_demo_command_materializes_and_reports_paths(lume_home: Path) -> None:
    result = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    assert str(lume_home) in result.output
    files = lume_home / "files"
    assert str(files / "beam_envelope" / "sigma_x.h5") in result.output
    assert str(files / "beam_envelope" / "report.txt") in result.output
    assert str(files / "envelope_surrogate.h5") in result.output
    assert (files / "beam_envelope" / "report.txt").read_text().startswith("Beam envelope")
    assert "check envelope_surrogate:surrogate_matches_simulation: passed" in result.output
    assert f"result store:  sqlite:///{lume_home / 'results.db'}" in result.output
    assert 'store.find("beam_envelope"' in result.output
