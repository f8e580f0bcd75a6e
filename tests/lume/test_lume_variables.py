"""A lume-base `variable_class` variables YAML (written by lume-base) loads with every field."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tests.lume.conftest import need

need("lume.variables", "lume")

from lume.variables import NDVariable, ParticleGroupVariable, ScalarVariable  # noqa: E402

from lume_assets.errors import ModelError  # noqa: E402
from lume_assets.models.lume_variables import load_variables  # noqa: E402


def test_lume_base_variables_yaml_keeps_every_field(tmp_path):
    inputs = [
        ScalarVariable(name="SOL1:field", default_value=0.2, value_range=(0.0, 0.5), unit="T"),
        ScalarVariable(name="gun_phase", default_value=3.0, unit="deg", read_only=True),
        NDVariable(
            name="laser_profile",
            shape=(4, 3),
            unit="um",
            default_value=np.arange(12.0).reshape(4, 3),
        ),
    ]
    outputs = [
        ScalarVariable(name="norm_emit_x", unit="m"),
        ParticleGroupVariable(name="beam", read_only=True),
    ]
    doc = {
        "input_variables": {v.name: v.model_dump() for v in inputs},
        "output_variables": {v.name: v.model_dump() for v in outputs},
    }
    path = tmp_path / "variables.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    ins, outs = load_variables(path)
    sol, phase, laser = ins
    assert (sol.name, sol.alias, sol.default, sol.value_range, sol.units) == (
        "SOL1_field",
        "SOL1:field",
        0.2,
        (0.0, 0.5),
        "T",
    )
    assert (phase.read_only, phase.default, phase.units) == (True, 3.0, "deg")
    assert (laser.kind, laser.shape, laser.dtype, laser.units) == ("array", (4, 3), "float64", "um")
    np.testing.assert_array_equal(np.asarray(laser.default), np.arange(12.0).reshape(4, 3))
    emit, beam = outs
    assert (emit.kind, emit.units) == ("scalar", "m")
    assert (beam.kind, beam.read_only) == ("particles", True)


def test_unknown_variable_class_is_one_clear_line(tmp_path):
    path = tmp_path / "variables.yml"
    path.write_text("input_variables:\n  x: {variable_class: WeirdVariable}\n")
    with pytest.raises(ModelError, match=r"variable 'x' has variable_class 'WeirdVariable'"):
        load_variables(path)
