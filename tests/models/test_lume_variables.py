"""LUME `variables.yml` files load into our variables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lume_assets.errors import ModelError, ModelInputError
from lume_assets.models.lume_variables import load_variables
from lume_assets.models.variables import ImageVariable, ScalarVariable

DATA = Path(__file__).parent / "data"


def test_lcls_injector_variables_load() -> None:
    inputs, outputs = load_variables(DATA / "lcls_cu_inj_variables.yml")
    by_alias = {v.alias or v.name: v for v in inputs}
    sol = by_alias["SOL1:solenoid_field_scale"]
    assert isinstance(sol, ScalarVariable)
    assert sol.name == "SOL1_solenoid_field_scale"
    assert (sol.default, sol.value_range, sol.units) == (0.246, (0.2, 0.3), "T")
    assert by_alias["distgen:total_charge:value"].is_constant
    with pytest.raises(ModelInputError, match=r"outside its allowed range \[0.2, 0.3\] T"):
        sol.validate_value(0.5)

    image = {v.alias or v.name: v for v in outputs}["x:y"]
    assert isinstance(image, ImageVariable)
    assert image.name == "x_y"
    assert image.shape == (50, 50)
    assert image.axis_labels == ("x", "y")
    assert image.axis_units == ("mm", "mm")
    assert image.extent() == (-1.5, 1.5, -1.5, 1.5)
    assert [v.kind for v in outputs] == ["scalar", "scalar", "scalar", "image"]


def test_image_default_from_npy_beside_the_yaml(tmp_path: Path) -> None:
    np.save(tmp_path / "start.npy", np.arange(6.0).reshape(2, 3))
    (tmp_path / "variables.yml").write_text(
        "input_variables:\n"
        "  screen:\n"
        "    type: image\n"
        "    default: start.npy\n"
        "    x_label: x\n    y_label: y\n"
        "    axis_units: [mm, mm]\n"
        "output_variables:\n"
        "  total:\n    type: scalar\n"
    )
    inputs, outputs = load_variables(tmp_path / "variables.yml")
    assert inputs[0].validate_value(inputs[0].default).shape == (2, 3)
    assert outputs[0].name == "total"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("input_variables:\n  a:\n    type: tensor\n", "has type 'tensor'"),
        ("input_variables:\n  a:\n    type: scalar\n    range: [2, 1]\n", "lower > upper"),
        ("input_variables:\n  a:\n    name: b\n", "declares a different name 'b'"),
        ("just: a mapping\n", "expected a mapping with 'input_variables'"),
        ("input_variables: [\n", "is not valid YAML"),
    ],
)
def test_bad_variables_files_are_refused_with_the_file_named(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "variables.yml"
    path.write_text(text)
    with pytest.raises(ModelError) as err:
        load_variables(path)
    assert needle in str(err.value)
    assert str(path) in str(err.value)


def test_missing_file() -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_variables("/nonexistent/variables.yml")
