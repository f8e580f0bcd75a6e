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
    # content-addressed: <asset key>/<inputs hash[:16]>.<ext>, each path reported
    [sigma_x] = (files / "beam_envelope" / "sigma_x").iterdir()
    [report] = (files / "beam_envelope" / "report").iterdir()
    [surrogate] = (files / "envelope_surrogate").iterdir()
    for path in (sigma_x, report, surrogate):
        assert str(path) in result.output
    assert report.read_text().split("\n", 1)[1].startswith("Beam envelope")
    assert "check envelope_surrogate:surrogate_matches_simulation: passed" in result.output
    assert f"result store:  sqlite:///{lume_home / 'results.db'}" in result.output
    assert 'store.find("beam_envelope"' in result.output
