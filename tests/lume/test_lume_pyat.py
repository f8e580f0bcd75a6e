"""A lume-pyat model over the ESRF-EBS cell shipped in accelerator-toolbox, served as assets."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import h5py
import numpy as np
import pytest

from tests.lume.conftest import need

need("lume_pyat", "lume")

from lume_assets.assets.model_assets import model_asset  # noqa: E402
from lume_assets.assets.scan_asset import scan_asset  # noqa: E402
from lume_assets.assets.scan_grid import LinSpace, ScanSpec  # noqa: E402
from lume_assets.demo.pyat_ring import pyat_ring_model  # noqa: E402
from lume_assets.models.model import ModelSpec  # noqa: E402

SCAN = ScanSpec(
    name="qf1_scan", axes={"QF1A_k": LinSpace(start=2.50, stop=2.58, num=6)}, chunk_size=3
)


@pytest.fixture(scope="module")
def ebs() -> ModelSpec:
    """The hmba cell as a ModelSpec (one LUMEPyATModel per process)."""
    return ModelSpec.from_lume(factory=pyat_ring_model, name="ebs_cell")


def test_settable_variables_are_inputs_and_the_rest_outputs(ebs):
    assert [v.name for v in ebs.inputs] == ["QF1A_k", "QD2A_k"]
    assert [v.name for v in ebs.outputs] == ["tune_x", "tune_y", "beta_x", "beta_y"]
    qf1 = ebs.input_map["QF1A_k"]
    assert qf1.units == "1/m^2" and qf1.default == pytest.approx(2.5394599781303304)
    assert qf1.value_range == pytest.approx((qf1.default - 0.5, qf1.default + 0.5))
    assert ebs.output_map["beta_x"].units == "m" and ebs.output_map["beta_x"].read_only
    # version: the installed lume-pyat plus a hash of the model's construction
    assert ebs.version.startswith("lume-pyat-") and "+" in ebs.version
    other = ModelSpec.from_lume(factory=pyat_ring_model, args={"monitor": "BPM_02"}, name="e")
    assert other.version != ebs.version


def test_quadrupole_scan_stores_tunes_and_betas_equal_to_the_model(ebs, resources, instance):
    asset = scan_asset(ebs, SCAN)
    keys = SCAN.chunk_keys()
    tags = {
        "dagster/asset_partition_range_start": keys[0],
        "dagster/asset_partition_range_end": keys[-1],
    }
    assert dg.materialize([asset], resources=resources, instance=instance, tags=tags).success
    store = resources["result_store"].get_store()
    stored = store.find("ebs_cell", {})
    assert len(stored) == SCAN.size
    direct = pyat_ring_model()  # the lume-pyat model called directly, no lume_assets
    for result in stored:
        direct.reset()
        direct.set({"QF1A_k": result.inputs["QF1A_k"], "QD2A_k": result.inputs["QD2A_k"]})
        expected = direct.get(["tune_x", "tune_y", "beta_x", "beta_y"])
        assert result.outputs == expected
    tunes = sorted(r.outputs["tune_x"] for r in stored)
    assert tunes[-1] - tunes[0] > 1e-3  # the scan really moves the tune
    root = resources["hdf5_io_manager"].root_dir
    [chunk_file] = (Path(root) / "ebs_cell" / "qf1_scan" / keys[0]).iterdir()
    with h5py.File(chunk_file, "r") as fh:
        np.testing.assert_array_equal(fh["inputs/QF1A_k"][()], SCAN.columns()["QF1A_k"][:3])
    # a rerun is all cache hits: nothing evaluated or written again, no duplicates
    again = dg.materialize([asset], resources=resources, instance=instance, tags=tags)
    assert again.success and store.count("ebs_cell") == SCAN.size
    meta = again.asset_materializations_for_node(asset.op.name)[0].metadata
    assert (meta["cache_hits"].value, meta["records_written"].value) == (SCAN.size, 0)


def test_rerun_of_a_point_is_a_cache_hit(ebs, resources, instance):
    asset = model_asset(ebs)
    config = {"ops": {"ebs_cell": {"config": {"QF1A_k": 2.53, "QD2A_k": -2.67}}}}
    hits = []
    for _ in range(2):
        run = dg.materialize([asset], resources=resources, instance=instance, run_config=config)
        assert run.success
        mat = run.asset_materializations_for_node("ebs_cell")[0]
        hits.append(mat.metadata["cache_hit"].value)
        out = run.output_for_node("ebs_cell", "result").outputs
    assert hits == [False, True]
    direct = pyat_ring_model()
    direct.set({"QF1A_k": 2.53, "QD2A_k": -2.67})
    assert out == direct.get(["tune_x", "tune_y", "beta_x", "beta_y"])
