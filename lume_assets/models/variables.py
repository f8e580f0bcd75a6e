"""Model input/output variables (pydantic): scalar, array, image, text and file, with validation.

Each variable validates a value and refuses it with a message that names the variable, the value
and what is allowed; inputs raise `ModelInputError`, outputs `ModelOutputError`.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lume_assets.errors import ModelError, ModelInputError, ModelOutputError

Role = Literal["input", "output"]

#: numpy dtype names an ArrayVariable may declare.
ALLOWED_DTYPES = (
    "float64",
    "float32",
    "int64",
    "int32",
    "uint8",
    "uint16",
    "bool",
    "complex128",
)


def refuse(role: Role, message: str) -> ModelError:
    """Return the error class for `role` carrying `message`."""
    return ModelInputError(message) if role == "input" else ModelOutputError(message)


def _short(value: Any) -> str:
    """Return a short printable form of a value for error messages."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return f"<int of ~{int(value.bit_length() * 0.30103) + 1} digits>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def with_units(name: str, units: str | None) -> str:
    """`name` labelled with its units, e.g. 'k_f [1/m^2]' (the name alone without units)."""
    return f"{name} [{units}]" if units else name


class _Variable(BaseModel):
    """Fields shared by every variable kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Python identifier.")
    description: str = ""
    alias: str | None = Field(
        default=None, description="Original (e.g. LUME/EPICS) name when it is not an identifier."
    )
    read_only: bool = Field(
        default=False, description="LUME `read_only`: not settable (a measured/derived value)."
    )

    def label(self, role: Role) -> str:
        """Return how messages name this variable, e.g. "input 'k1'"."""
        return f"{role} {self.name!r}"

    @property
    def has_default(self) -> bool:
        """Whether the variable carries a default value."""
        return getattr(self, "default", None) is not None

    @abstractmethod
    def validate_value(self, value: Any, role: Role = "input", check_range: bool = True) -> Any:
        """Return `value` normalized, or raise ModelInputError/ModelOutputError.

        `check_range=False` checks type, shape and dtype only (outputs are range-checked by the
        asset check, so an out-of-range result is still stored and flagged).
        """


class ScalarVariable(_Variable):
    """A real number with optional units, default and allowed range (inclusive)."""

    kind: Literal["scalar"] = "scalar"
    default: float | None = None
    value_range: tuple[float, float] | None = None
    units: str | None = None
    is_constant: bool = False

    @model_validator(mode="after")
    def _check(self) -> ScalarVariable:
        if self.value_range is not None:
            lo, hi = self.value_range
            if not lo <= hi:
                raise ValueError(f"scalar {self.name!r}: value_range {lo}..{hi} has lower > upper")
            if self.default is not None and not lo <= self.default <= hi:
                raise ValueError(
                    f"scalar {self.name!r}: default {self.default} is outside "
                    f"value_range [{lo}, {hi}]"
                )
        return self

    def describe_allowed(self) -> str:
        """Return the allowed range as text, with units."""
        unit = f" {self.units}" if self.units else ""
        if self.value_range is None:
            return f"any finite number{unit}"
        return f"[{self.value_range[0]:g}, {self.value_range[1]:g}]{unit}"

    def validate_value(self, value: Any, role: Role = "input", check_range: bool = True) -> float:
        """Return `value` as a float inside the range, or refuse it."""
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value.item()
        if isinstance(value, bool | np.bool_ | complex | np.complexfloating) or not isinstance(
            value, int | float | np.number
        ):
            raise refuse(
                role,
                f"{self.label(role)} = {_short(value)} is not a number "
                f"(got {type(value).__name__}); give a number in {self.describe_allowed()}.",
            )
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float (e.g. 400 digits)
            raise refuse(
                role,
                f"{self.label(role)} = {_short(value)} is too large for a float; "
                f"give a number in {self.describe_allowed()}.",
            ) from None
        if not math.isfinite(number):
            raise refuse(
                role,
                f"{self.label(role)} = {number} is not finite; "
                f"give a number in {self.describe_allowed()}.",
            )
        if check_range and self.value_range is not None:
            lo, hi = self.value_range
            if not lo <= number <= hi:
                fix = "give a value within the range" if role == "input" else "check the model"
                raise refuse(
                    role,
                    f"{self.label(role)} = {number:g} is outside its allowed range "
                    f"{self.describe_allowed()}; {fix}.",
                )
        if self.is_constant and self.default is not None and number != self.default:
            raise refuse(
                role,
                f"{self.label(role)} is constant at {self.default:g}; got {number:g}.",
            )
        return number


class ArrayVariable(_Variable):
    """An n-dimensional numpy array of a dtype; `None` in `shape` is a free dimension."""

    kind: Literal["array"] = "array"
    shape: tuple[int | None, ...] | None = None
    dtype: str = "float64"
    units: str | None = None
    value_range: tuple[float, float] | None = None
    default: list[Any] | None = None

    @field_validator("dtype")
    @classmethod
    def _dtype_known(cls, dtype: str) -> str:
        if dtype not in ALLOWED_DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of {', '.join(ALLOWED_DTYPES)}")
        return dtype

    def describe_shape(self) -> str:
        """Return the declared shape as text, e.g. '(None, 3)'."""
        if self.shape is None:
            return "any shape"
        dims = ", ".join("None" if d is None else str(d) for d in self.shape)
        return f"({dims}{',' if len(self.shape) == 1 else ''})"

    def validate_value(
        self, value: Any, role: Role = "input", check_range: bool = True
    ) -> np.ndarray:
        """Return `value` as an array of the declared dtype and shape, or refuse it."""
        if isinstance(value, str | bytes | Mapping) or value is None:
            raise refuse(
                role,
                f"{self.label(role)} = {_short(value)} is not an array; give a sequence or "
                f"numpy array of {self.dtype} with shape {self.describe_shape()}.",
            )
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise refuse(
                role,
                f"{self.label(role)} cannot be read as an array ({exc}); give a "
                f"rectangular sequence of {self.dtype} with shape {self.describe_shape()}.",
            ) from None
        target = np.dtype(self.dtype)
        if arr.dtype == object or not np.can_cast(arr.dtype, target, casting="same_kind"):
            raise refuse(
                role,
                f"{self.label(role)} has dtype {arr.dtype}, which cannot be stored as "
                f"{self.dtype}; give {self.dtype} values.",
            )
        if self.shape is not None:
            ok = arr.ndim == len(self.shape) and all(
                want is None or want == got
                for want, got in zip(self.shape, arr.shape, strict=False)
            )
            if not ok:
                raise refuse(
                    role,
                    f"{self.label(role)} has shape {tuple(arr.shape)}, expected "
                    f"{self.describe_shape()} (None = any length).",
                )
        arr = arr.astype(target, copy=False)
        if check_range and self.value_range is not None and arr.size and arr.dtype.kind in "fiu":
            lo, hi = self.value_range
            if not np.all(np.isfinite(arr)):
                raise refuse(role, f"{self.label(role)} contains NaN or infinite values.")
            amin, amax = float(arr.min()), float(arr.max())
            if amin < lo or amax > hi:
                raise refuse(
                    role,
                    f"{self.label(role)} has values in [{amin:g}, {amax:g}], outside its "
                    f"allowed range [{lo:g}, {hi:g}]{' ' + self.units if self.units else ''}.",
                )
        return arr


class ImageVariable(ArrayVariable):
    """LUME's `image`: a 2-D array with axis labels, axis units and x/y limits."""

    kind: Literal["image"] = "image"  # type: ignore[assignment]
    shape: tuple[int | None, ...] | None = (None, None)
    axis_labels: tuple[str, str] = ("x", "y")
    axis_units: tuple[str, str] | None = None
    x_min: float | None = None
    x_max: float | None = None
    y_min: float | None = None
    y_max: float | None = None

    @model_validator(mode="after")
    def _two_dimensional(self) -> ImageVariable:
        if self.shape is None or len(self.shape) != 2:
            raise ValueError(f"image {self.name!r}: shape must have 2 dimensions, got {self.shape}")
        for lo, hi, axis in ((self.x_min, self.x_max, "x"), (self.y_min, self.y_max, "y")):
            if lo is not None and hi is not None and lo >= hi:
                raise ValueError(f"image {self.name!r}: {axis}_min {lo} >= {axis}_max {hi}")
        return self

    def extent(self) -> tuple[float, float, float, float] | None:
        """Return (x_min, x_max, y_min, y_max) when all four limits are known."""
        limits = (self.x_min, self.x_max, self.y_min, self.y_max)
        return None if any(v is None for v in limits) else limits  # type: ignore[return-value]


class TextVariable(_Variable):
    """A string (a report, a log, a label), optionally bounded in length."""

    kind: Literal["text"] = "text"
    default: str | None = None
    max_length: int | None = Field(default=None, gt=0)

    def validate_value(self, value: Any, role: Role = "input", check_range: bool = True) -> str:
        """Return `value` if it is a string within `max_length`, else refuse it."""
        if not isinstance(value, str):
            raise refuse(
                role,
                f"{self.label(role)} = {_short(value)} is not text "
                f"(got {type(value).__name__}); give a string.",
            )
        if self.max_length is not None and len(value) > self.max_length:
            raise refuse(
                role,
                f"{self.label(role)} is {len(value)} characters long, more than its allowed "
                f"{self.max_length}; shorten it.",
            )
        return value


class FileVariable(_Variable):
    """A path to a file (an input deck, a produced data file); checked for existence/suffix."""

    kind: Literal["file"] = "file"
    default: str | None = None
    suffixes: tuple[str, ...] = ()
    must_exist: bool = True

    def validate_value(self, value: Any, role: Role = "input", check_range: bool = True) -> str:
        """Return `value` as a path string if it names an acceptable file, else refuse it."""
        if not isinstance(value, str | Path) or not str(value):
            raise refuse(
                role,
                f"{self.label(role)} = {_short(value)} is not a file path; give a path string.",
            )
        path = Path(value)
        if self.suffixes and path.suffix not in self.suffixes:
            raise refuse(
                role,
                f"{self.label(role)} = {str(path)!r} has suffix {path.suffix!r}; "
                f"allowed suffixes are {', '.join(self.suffixes)}.",
            )
        if self.must_exist and not path.is_file():
            raise refuse(
                role,
                f"{self.label(role)} = {str(path)!r} does not exist or is not a file; "
                "give the path of an existing file.",
            )
        return str(path)


class ParticlesVariable(_Variable):
    """An openPMD-beamphysics `ParticleGroup` (LUME's `ParticleGroupVariable`), stored as HDF5."""

    kind: Literal["particles"] = "particles"

    def validate_value(self, value: Any, role: Role = "input", check_range: bool = True) -> Any:
        """Return `value` if it is a ParticleGroup (checked without importing the library)."""
        names = {cls.__name__ for cls in type(value).__mro__}
        if "ParticleGroup" not in names:
            raise refuse(
                role,
                f"{self.label(role)} = {_short(value)} is not a pmd_beamphysics ParticleGroup "
                f"(got {type(value).__name__}); return a ParticleGroup.",
            )
        return value


Variable = Annotated[
    ScalarVariable
    | ArrayVariable
    | ImageVariable
    | TextVariable
    | FileVariable
    | ParticlesVariable,
    Field(discriminator="kind"),
]

ARRAY_KINDS = ("array", "image")


def check_unique(variables: Iterable[_Variable], role: Role) -> None:
    """Raise ModelError if two variables share a name."""
    seen: set[str] = set()
    for var in variables:
        if var.name in seen:
            raise ModelError(f"{role} variable {var.name!r} is declared twice; rename one.")
        seen.add(var.name)


def validate_values(
    variables: Iterable[_Variable],
    values: Mapping[str, Any],
    role: Role,
    *,
    fill_defaults: bool = True,
    check_range: bool = True,
) -> dict[str, Any]:
    """Validate `values` against `variables`: no unknown or missing names; defaults filled in."""
    declared = {var.name: var for var in variables}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise refuse(
            role,
            f"unknown {role}(s) {', '.join(map(repr, unknown))}; declared {role}s are "
            f"{', '.join(map(repr, declared)) or '(none)'}.",
        )
    out: dict[str, Any] = {}
    for name, var in declared.items():
        if name in values and values[name] is not None:
            out[name] = var.validate_value(values[name], role, check_range)
        elif fill_defaults and var.has_default:
            out[name] = var.validate_value(var.default, role)
        else:
            raise refuse(role, f"{var.label(role)} is missing; give a value for it.")
    return out


def variable_row(var: Any) -> dict[str, Any]:
    """One variable as a user sees it: name, kind, default, units, allowed range or shape."""
    allowed = ""
    if hasattr(var, "describe_allowed"):
        allowed = var.describe_allowed()
    elif hasattr(var, "describe_shape"):
        allowed = f"{getattr(var, 'dtype', '')} shape {var.describe_shape()}".strip()
    default = getattr(var, "default", None)
    if isinstance(default, np.ndarray):
        default = default.tolist()
    return {
        "name": var.name,
        "kind": var.kind,
        "default": default,
        "units": getattr(var, "units", None) or "",
        "allowed": allowed,
        "description": var.description or "",
    }
