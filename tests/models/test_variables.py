"""Every variable kind accepts good values and refuses bad ones with a message naming them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from lume_assets.errors import ModelError, ModelInputError, ModelOutputError
from lume_assets.models.variables import (
    ArrayVariable,
    FileVariable,
    ImageVariable,
    ScalarVariable,
    TextVariable,
    Variable,
    validate_values,
)


def test_scalar_accepts_numbers_in_range() -> None:
    var = ScalarVariable(name="k1", value_range=(-10, 10), units="1/m^2")
    assert var.validate_value(3) == 3.0
    assert var.validate_value(np.float32(-10)) == -10.0
    assert isinstance(var.validate_value(np.array(2.5)), float)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (12.0, "k1' = 12 is outside its allowed range [-10, 10] 1/m^2"),
        ("3", "is not a number (got str)"),
        (True, "is not a number (got bool)"),
        (float("nan"), "is not finite"),
        ([1.0], "is not a number (got list)"),
    ],
)
def test_scalar_refuses_with_name_value_and_range(value: object, needle: str) -> None:
    var = ScalarVariable(name="k1", value_range=(-10, 10), units="1/m^2")
    with pytest.raises(ModelInputError) as err:
        var.validate_value(value)
    assert "input 'k1'" in str(err.value)
    assert needle in str(err.value)


def test_scalar_output_role_raises_output_error() -> None:
    var = ScalarVariable(name="size", value_range=(0, 1))
    with pytest.raises(ModelOutputError, match="output 'size' = 2 is outside"):
        var.validate_value(2.0, "output")
    assert var.validate_value(2.0, "output", check_range=False) == 2.0


def test_scalar_declaration_is_checked() -> None:
    with pytest.raises(ValidationError, match="default 5.0 is outside value_range"):
        ScalarVariable(name="a", default=5, value_range=(0, 1))
    with pytest.raises(ValidationError, match="lower > upper"):
        ScalarVariable(name="a", value_range=(1, 0))
    with pytest.raises(ValidationError):
        ScalarVariable(name="not an identifier")


def test_constant_scalar_refuses_other_values() -> None:
    var = ScalarVariable(name="charge", default=250, is_constant=True)
    assert var.validate_value(250) == 250
    with pytest.raises(ModelInputError, match="constant at 250"):
        var.validate_value(251)


def test_array_shape_with_free_dimensions_and_dtype() -> None:
    var = ArrayVariable(name="orbit", shape=(None, 2), dtype="float64")
    out = var.validate_value([[1, 2], [3, 4], [5, 6]])
    assert out.dtype == np.float64 and out.shape == (3, 2)
    with pytest.raises(ModelInputError, match=r"'orbit' has shape \(3,\), expected \(None, 2\)"):
        var.validate_value([1, 2, 3])
    with pytest.raises(
        ModelInputError, match="has dtype complex128, which cannot be stored as float64"
    ):
        var.validate_value(np.ones((2, 2), dtype=complex))
    with pytest.raises(ModelInputError, match="is not an array"):
        var.validate_value("1,2")
    with pytest.raises(ModelInputError, match="cannot be read as an array"):
        var.validate_value([[1, 2], [3]])


def test_array_integer_dtype_refuses_floats_and_checks_range() -> None:
    var = ArrayVariable(name="counts", shape=(3,), dtype="int64", value_range=(0, 100))
    assert var.validate_value(np.array([1, 2, 3], dtype=np.int32)).dtype == np.int64
    with pytest.raises(ModelInputError, match="dtype float64, which cannot be stored as int64"):
        var.validate_value([1.5, 2.0, 3.0])
    with pytest.raises(
        ModelInputError, match=r"values in \[1, 200\], outside its allowed range \[0, 100\]"
    ):
        var.validate_value([1, 2, 200])
    with pytest.raises(ValidationError, match="dtype 'float128' is not one of"):
        ArrayVariable(name="x", dtype="float128")


def test_image_is_two_dimensional_with_axes() -> None:
    var = ImageVariable(
        name="xy",
        shape=(4, 5),
        axis_labels=("x", "y"),
        axis_units=("mm", "mm"),
        x_min=-1,
        x_max=1,
        y_min=-2,
        y_max=2,
    )
    assert var.validate_value(np.zeros((4, 5))).shape == (4, 5)
    assert var.extent() == (-1, 1, -2, 2)
    with pytest.raises(
        ModelOutputError, match=r"output 'xy' has shape \(4, 4\), expected \(4, 5\)"
    ):
        var.validate_value(np.zeros((4, 4)), "output")
    with pytest.raises(ValidationError, match="shape must have 2 dimensions"):
        ImageVariable(name="xy", shape=(3,))
    with pytest.raises(ValidationError, match="x_min 1.0 >= x_max 0.0"):
        ImageVariable(name="xy", x_min=1, x_max=0)


def test_text_variable() -> None:
    var = TextVariable(name="note", max_length=5)
    assert var.validate_value("abc") == "abc"
    with pytest.raises(ModelInputError, match="'note' = 3 is not text"):
        var.validate_value(3)
    with pytest.raises(ModelInputError, match="6 characters long, more than its allowed 5"):
        var.validate_value("abcdef")


def test_file_variable(tmp_path: Path) -> None:
    deck = tmp_path / "deck.in"
    deck.write_text("&run /")
    var = FileVariable(name="deck", suffixes=(".in",))
    assert var.validate_value(deck) == str(deck)
    with pytest.raises(ModelInputError, match="does not exist or is not a file"):
        var.validate_value(tmp_path / "missing.in")
    with pytest.raises(ModelInputError, match="has suffix '.txt'; allowed suffixes are .in"):
        var.validate_value(tmp_path / "x.txt")
    with pytest.raises(ModelInputError, match="is not a file path"):
        var.validate_value(12)


def test_discriminated_union_builds_each_kind() -> None:
    adapter = TypeAdapter(Variable)
    kinds = {
        "scalar": ScalarVariable,
        "array": ArrayVariable,
        "image": ImageVariable,
        "text": TextVariable,
        "file": FileVariable,
    }
    for kind, cls in kinds.items():
        assert type(adapter.validate_python({"name": "v", "kind": kind})) is cls
    with pytest.raises(ValidationError):
        adapter.validate_python({"name": "v", "kind": "tensor"})


def test_validate_values_fills_defaults_and_refuses_unknown_or_missing() -> None:
    variables = [ScalarVariable(name="a", default=1.0), ScalarVariable(name="b")]
    assert validate_values(variables, {"b": 2}, "input") == {"a": 1.0, "b": 2.0}
    with pytest.raises(ModelInputError, match="input 'b' is missing"):
        validate_values(variables, {}, "input")
    with pytest.raises(
        ModelInputError, match="unknown input\\(s\\) 'c'; declared inputs are 'a', 'b'"
    ):
        validate_values(variables, {"b": 1, "c": 3}, "input")
    assert issubclass(ModelInputError, ModelError)
