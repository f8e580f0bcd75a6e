"""The demo graph: model asset, partitioned quad scan, surrogate and its check — materialized with
`materialize` and from the `dagster` command line; outputs read back with h5py and the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import h5py
import numpy as np
import pytest

from lume_assets.demo import assets as demo
from lume_assets.demo.beam_model import BEAM_ENVELOPE, matched_points

ROOT = Path(__file__).resolve().parents[2]
RANGE_TAGS = {
    "dagster/asset_partition_range_start": "2.00",
    "dagster/asset_partition_range_end": "2.40",
}


def only_file(folder: Path) -> Path:
    """The one (content-addressed) file in `folder`."""
    [path] = [p for p in folder.iterdir() if p.is_file()]
    return path


def test_demo_graph_materializes_and_outputs_are_readable(
    resources: dict[str, Any], instance: dg.DagsterInstance, store: Any, lume_home: Path
) -> None:
    model = dg.materialize([demo.beam_envelope], resources=resources, instance=instance)
    scan = dg.materialize(
        [demo.envelope_scan], resources=resources, instance=instance, tags=RANGE_TAGS
    )
    fit = dg.materialize(
        [demo.envelope_scan, demo.envelope_surrogate, *demo.demo_checks],
        selection=[demo.envelope_surrogate, *demo.demo_checks],
        resources=resources,
        instance=instance,
    )
    assert model.success and scan.success and fit.success
    files = lume_home / "files"

    # HDF5 with plain h5py: the envelope arrays, one scan file per partition, the surrogate
    with h5py.File(only_file(files / "beam_envelope" / "sigma_x"), "r") as f:
        sigma_x = f["value"][()]
    with h5py.File(only_file(files / "beam_envelope" / "s"), "r") as f:
        s = f["value"][()]
    assert sigma_x.shape == s.shape == (129,)
    assert s[-1] == pytest.approx(9.6)
    scan_files = sorted((files / "envelope_scan").glob("*/*.h5"))
    assert [p.parent.name for p in scan_files] == ["2.00", "2.10", "2.20", "2.30", "2.40"]
    with h5py.File(scan_files[2], "r") as f:
        np.testing.assert_allclose(f["k_f"][()], 2.2)
        assert f["max_sigma"].shape == (len(demo.SCAN_K_D),)
    with h5py.File(only_file(files / "envelope_surrogate"), "r") as f:
        assert f["coefficients"].shape == (10,)

    # the envelope plot: a PNG file next to the outputs, and inline in Dagit
    meta = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in model.get_asset_materialization_events()
    }
    plot = Path(str(meta["beam_envelope/result"]["plot_path"].value))
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert "plot" not in meta["beam_envelope/result"]  # a file, not a base64 blob in the log
    assert meta["beam_envelope/result"]["files"].value["sigma_x"] == str(
        only_file(files / "beam_envelope" / "sigma_x")
    )

    # the text report
    report = only_file(files / "beam_envelope" / "report").read_text().split("\n", 1)[1]
    assert report.startswith("Beam envelope through a FODO lattice")

    # the result store: the model's result plus every scan point, queryable
    [nominal] = store.find("beam_envelope", {"provenance.asset_key": "beam_envelope/result"})
    assert nominal.outputs["max_sigma"] == pytest.approx(float(sigma_x.max()), rel=1e-3)
    np.testing.assert_array_equal(nominal.outputs["sigma_x"], sigma_x)
    assert store.count("beam_envelope") == 1 + len(demo.SCAN_K_F) * len(demo.SCAN_K_D)
    assert store.count("beam_envelope", {"inputs.k_f": {"$eq": 2.2}}) == len(demo.SCAN_K_D)

    checks = {e.check_name: e for r in (model, fit) for e in r.get_asset_check_evaluations()}
    assert checks["outputs_in_declared_range"].passed
    surrogate_check = checks["surrogate_matches_simulation"]
    assert surrogate_check.passed
    assert surrogate_check.metadata["max_relative_error"].value <= demo.SURROGATE_TOLERANCE


def test_scan_reuses_stored_points_and_they_are_cache_hits_for_the_model(
    resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    first = dg.materialize(
        [demo.envelope_scan], resources=resources, instance=instance, partition_key="2.20"
    )
    again = dg.materialize(
        [demo.envelope_scan], resources=resources, instance=instance, partition_key="2.20"
    )
    [m1] = [e.materialization.metadata for e in first.get_asset_materialization_events()]
    [m2] = [e.materialization.metadata for e in again.get_asset_materialization_events()]
    assert (m1["evaluated"].value, m1["cache_hits"].value) == (len(demo.SCAN_K_D), 0)
    assert (m2["evaluated"].value, m2["cache_hits"].value) == (0, len(demo.SCAN_K_D))
    forced = dg.materialize(
        [demo.envelope_scan],
        resources=resources,
        instance=instance,
        partition_key="2.20",
        run_config={"ops": {"envelope_scan": {"config": {"force": True}}}},
    )
    [m3] = [e.materialization.metadata for e in forced.get_asset_materialization_events()]
    assert (m3["evaluated"].value, m3["cache_hits"].value) == (len(demo.SCAN_K_D), 0)
    # each run's file is its own (named by the run), holding the same values from the cache
    assert m1["path"].value != m2["path"].value
    with h5py.File(str(m1["path"].value)) as f1, h5py.File(str(m2["path"].value)) as f2:
        np.testing.assert_array_equal(f1["max_sigma"][()], f2["max_sigma"][()])
    point = matched_points(np.array([2.2]), np.array([demo.SCAN_K_D[3]]))[0]
    result = dg.materialize(
        [demo.beam_envelope],
        resources=resources,
        instance=instance,
        run_config={"ops": {"beam_envelope": {"config": point}}},
    )
    meta = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert meta["beam_envelope/result"]["cache_hit"].value is True
    assert meta["beam_envelope/sigma_y"]["shape"].value == "(129,)"


def test_surrogate_check_fails_for_a_wrong_surrogate() -> None:
    points = matched_points(
        np.repeat(demo.SCAN_K_F, len(demo.SCAN_K_D)), np.tile(demo.SCAN_K_D, len(demo.SCAN_K_F))
    )
    outputs = BEAM_ENVELOPE.evaluate_batch(points)
    table = {
        "k_f": np.array([p["k_f"] for p in points]),
        "k_d": np.array([p["k_d"] for p in points]),
        "max_sigma": np.array([o["max_sigma"] for o in outputs]),
    }
    surrogate = demo.envelope_surrogate(dg.build_asset_context(), envelope_scan=table)
    good = demo.surrogate_matches_simulation(envelope_surrogate=surrogate)
    assert good.passed
    bad = dict(surrogate, coefficients=surrogate["coefficients"] * 1.1)
    result = demo.surrogate_matches_simulation(envelope_surrogate=bad)
    assert not result.passed
    assert result.metadata["max_relative_error"].value > demo.SURROGATE_TOLERANCE


def _dagster(args: list[str], lume_home: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LUME_HOME": str(lume_home),
        "DAGSTER_HOME": os.environ["DAGSTER_HOME"],
        "PYTHONPATH": str(ROOT),
    }
    Path(env["DAGSTER_HOME"], "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.run(
        [str(dagster), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_dagster_cli_validates_and_materializes_the_demo(lume_home: Path) -> None:
    validate = _dagster(["definitions", "validate", "-w", "workspace.yaml"], lume_home)
    assert validate.returncode == 0, validate.stderr[-2000:]
    assert "All code locations passed validation" in validate.stdout + validate.stderr

    model = _dagster(
        [
            "asset",
            "materialize",
            "-m",
            "lume_assets.demo.definitions",
            "--select",
            "key:beam_envelope/*",
        ],
        lume_home,
    )
    assert model.returncode == 0, model.stderr[-2000:]
    scan = _dagster(
        [
            "asset",
            "materialize",
            "-m",
            "lume_assets.demo.definitions",
            "--select",
            "envelope_scan",
            "--partition-range",
            "2.00...2.40",
        ],
        lume_home,
    )
    assert scan.returncode == 0, scan.stderr[-2000:]
    assert only_file(lume_home / "files" / "beam_envelope" / "report").suffix == ".txt"
    assert len(list((lume_home / "files" / "envelope_scan").glob("*/*.h5"))) == 5
    from lume_assets.storage.result_stores import open_result_store

    with open_result_store(f"sqlite:///{lume_home / 'results.db'}") as results:
        assert results.count("beam_envelope") == 1 + 5 * len(demo.SCAN_K_D)
