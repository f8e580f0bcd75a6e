"""Demo models composed by the shipped YAML graphs (`lume_assets/graphs/`).

- `envelope_scan_grid` — matched rms beam size of the FODO beam-envelope model over a grid of
  quad strengths (one vectorized call).
- `envelope_surrogate_fit` — a polynomial max_sigma(k_f, k_d) fitted to a scan by least squares.
- `surrogate_validation` — the surrogate against fresh simulations at random points of the
  scanned domain; its `within_tolerance` output is declared in [1, 1], so the model asset's
  output-range check fails when the surrogate misses.
- `envelope_analysis` — post-processing of one envelope: clearance to the aperture, waists,
  x/y size ratio along the line, and a report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lume_assets.demo.beam_model import APERTURE_MM, BEAM_ENVELOPE
from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import ArrayVariable, ScalarVariable, TextVariable

_OWNER = {"owners": ["beam-physics@lume.example"], "project": "demo", "author": "LUME demo"}


def _scalar(name: str, default: float | None, lo: float, hi: float, units: str = "") -> Any:
    """A ranged scalar variable."""
    return ScalarVariable(name=name, default=default, value_range=(lo, hi), units=units or None)


def _vector(name: str, units: str = "", length: int | None = None, dtype: str = "float64") -> Any:
    """A 1-D array variable."""
    return ArrayVariable(name=name, shape=(length,), dtype=dtype, units=units or None)


# -- scan --------------------------------------------------------------------------------------
def scan_grid(
    k_f_min: float,
    k_f_max: float,
    k_f_steps: float,
    k_d_min: float,
    k_d_max: float,
    k_d_steps: float,
) -> dict[str, Any]:
    """Matched-beam max rms size over the (k_f, k_d) grid, flattened k_f-major."""
    from lume_assets.demo.beam_model import matched_points

    k_f = np.repeat(np.linspace(k_f_min, k_f_max, int(k_f_steps)), int(k_d_steps))
    k_d = np.tile(np.linspace(k_d_min, k_d_max, int(k_d_steps)), int(k_f_steps))
    outputs = BEAM_ENVELOPE.evaluate_batch(matched_points(k_f, k_d))
    return {
        "k_f": k_f,
        "k_d": k_d,
        "max_sigma": np.array([o["max_sigma"] for o in outputs]),
        "points": float(k_f.size),
    }


ENVELOPE_SCAN_GRID = ModelSpec(
    name="envelope_scan_grid",
    version="1.0.0",
    description="Matched-beam max rms size of the FODO envelope model over a k_f x k_d grid.",
    inputs=[
        _scalar("k_f_min", 2.0, 0.0, 10.0, "1/m^2"),
        _scalar("k_f_max", 2.4, 0.0, 10.0, "1/m^2"),
        _scalar("k_f_steps", 5, 1, 200),
        _scalar("k_d_min", -2.4, -10.0, 0.0, "1/m^2"),
        _scalar("k_d_max", -2.0, -10.0, 0.0, "1/m^2"),
        _scalar("k_d_steps", 17, 1, 200),
    ],
    outputs=[
        _vector("k_f", "1/m^2"),
        _vector("k_d", "1/m^2"),
        _vector("max_sigma", "mm"),
        ScalarVariable(name="points", value_range=(1, 40000)),
    ],
    function=scan_grid,
    **_OWNER,
)


# -- surrogate -----------------------------------------------------------------------------------
def design_matrix(k_f: np.ndarray, k_d: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """Polynomial design matrix: one column k_f**i * k_d**j per exponent pair (i, j)."""
    return np.stack([k_f**i * k_d**j for i, j in exponents], axis=1)


def polynomial_exponents(degree: int) -> np.ndarray:
    """Exponent pairs (i, j) with i + j <= degree, shape (n, 2)."""
    return np.array([(i, j) for i in range(degree + 1) for j in range(degree + 1 - i)])


def predict(
    exponents: np.ndarray, coefficients: np.ndarray, k_f: np.ndarray, k_d: np.ndarray
) -> np.ndarray:
    """Evaluate the fitted polynomial at (k_f, k_d)."""
    k_f, k_d = np.asarray(k_f, float), np.asarray(k_d, float)
    return design_matrix(k_f, k_d, exponents) @ coefficients


def fit_surrogate(
    k_f: np.ndarray, k_d: np.ndarray, max_sigma: np.ndarray, degree: float
) -> dict[str, Any]:
    """Least-squares polynomial fit of max_sigma(k_f, k_d)."""
    exponents = polynomial_exponents(int(degree))
    coefficients, *_ = np.linalg.lstsq(design_matrix(k_f, k_d, exponents), max_sigma, rcond=None)
    residual = predict(exponents, coefficients, k_f, k_d) - max_sigma
    return {
        "exponents": exponents.astype(np.int64),
        "coefficients": coefficients,
        "k_f_range": np.array([k_f.min(), k_f.max()]),
        "k_d_range": np.array([k_d.min(), k_d.max()]),
        "rms_residual": float(np.sqrt(np.mean(residual**2))),
    }


ENVELOPE_SURROGATE_FIT = ModelSpec(
    name="envelope_surrogate_fit",
    version="1.0.0",
    description="Polynomial surrogate max_sigma(k_f, k_d) fitted to a scan by least squares.",
    inputs=[
        _vector("k_f", "1/m^2"),
        _vector("k_d", "1/m^2"),
        _vector("max_sigma", "mm"),
        _scalar("degree", 3, 1, 6),
    ],
    outputs=[
        ArrayVariable(name="exponents", shape=(None, 2), dtype="int64"),
        _vector("coefficients"),
        _vector("k_f_range", "1/m^2", length=2),
        _vector("k_d_range", "1/m^2", length=2),
        ScalarVariable(name="rms_residual", value_range=(0.0, 1.0), units="mm"),
    ],
    function=fit_surrogate,
    **_OWNER,
)


# -- validation ----------------------------------------------------------------------------------
def surrogate_errors(
    exponents: np.ndarray,
    coefficients: np.ndarray,
    k_f_range: np.ndarray,
    k_d_range: np.ndarray,
    n_points: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Surrogate vs fresh simulations at `n_points` random points of the (k_f, k_d) box."""
    from lume_assets.demo.beam_model import matched_points

    rng = np.random.default_rng(seed)
    k_f = rng.uniform(k_f_range[0], k_f_range[1], n_points)
    k_d = rng.uniform(k_d_range[0], k_d_range[1], n_points)
    simulated = np.array(
        [o["max_sigma"] for o in BEAM_ENVELOPE.evaluate_batch(matched_points(k_f, k_d))]
    )
    predicted = predict(exponents, coefficients, k_f, k_d)
    return {
        "k_f": k_f,
        "k_d": k_d,
        "simulated": simulated,
        "predicted": predicted,
        "relative_error": np.abs(predicted - simulated) / simulated,
    }


def validate_surrogate(
    exponents: np.ndarray,
    coefficients: np.ndarray,
    k_f_range: np.ndarray,
    k_d_range: np.ndarray,
    n_points: float,
    seed: float,
    tolerance: float,
) -> dict[str, Any]:
    """Relative error of the surrogate against fresh simulations at random points."""
    errors = surrogate_errors(
        exponents, coefficients, k_f_range, k_d_range, int(n_points), int(seed)
    )
    rel = errors["relative_error"]
    worst = int(np.argmax(rel))
    ok = bool(rel.max() <= tolerance)
    report = (
        f"surrogate vs simulation at {int(n_points)} random points (seed {int(seed)})\n"
        f"max relative error {rel.max():.4%}, mean {rel.mean():.4%}, tolerance {tolerance:.2%}\n"
        f"worst at k_f={errors['k_f'][worst]:.4f}, k_d={errors['k_d'][worst]:.4f}\n"
        f"verdict: {'PASS' if ok else 'FAIL'}\n"
    )
    return {
        "max_relative_error": float(rel.max()),
        "mean_relative_error": float(rel.mean()),
        "within_tolerance": 1.0 if ok else 0.0,
        "report": report,
    }


SURROGATE_VALIDATION = ModelSpec(
    name="surrogate_validation",
    version="1.0.0",
    description="Surrogate against fresh beam-envelope simulations at random scanned points.",
    inputs=[
        ArrayVariable(name="exponents", shape=(None, 2), dtype="int64"),
        _vector("coefficients"),
        _vector("k_f_range", "1/m^2", length=2),
        _vector("k_d_range", "1/m^2", length=2),
        _scalar("n_points", 24, 1, 10000),
        _scalar("seed", 20240601, 0, 2**31),
        _scalar("tolerance", 0.05, 0.0, 1.0),
    ],
    outputs=[
        ScalarVariable(name="max_relative_error", value_range=(0.0, 10.0)),
        ScalarVariable(name="mean_relative_error", value_range=(0.0, 10.0)),
        ScalarVariable(
            name="within_tolerance",
            value_range=(1.0, 1.0),
            description="1 if every point is within tolerance (the range check fails if 0)",
        ),
        TextVariable(name="report"),
    ],
    function=validate_surrogate,
    **_OWNER,
)


# -- post-processing ---------------------------------------------------------------------------
def analyse_envelope(
    s: np.ndarray,
    sigma_x: np.ndarray,
    sigma_y: np.ndarray,
    max_sigma: float,
    final_sigma_x: float,
    aperture: float,
) -> dict[str, Any]:
    """Clearance to the aperture, waist positions, x/y size ratio and a report."""
    waists = np.array([s[np.argmin(sigma_x)], s[np.argmin(sigma_y)]])
    clearance = aperture - max_sigma
    report = (
        f"envelope over {s[-1]:.3f} m ({s.size} samples)\n"
        f"largest rms size {max_sigma:.4f} mm, aperture {aperture:g} mm, "
        f"clearance {clearance:.4f} mm\n"
        f"final sigma_x {final_sigma_x:.4f} mm\n"
        f"waists: x at s = {waists[0]:.3f} m, y at s = {waists[1]:.3f} m\n"
    )
    return {
        "clearance": clearance,
        "waist_s": waists,
        "size_ratio": sigma_x / sigma_y,
        "final_sigma_x": final_sigma_x,
        "report": report,
    }


ENVELOPE_ANALYSIS = ModelSpec(
    name="envelope_analysis",
    version="1.0.0",
    description="Post-processing of a beam envelope: clearance, waists and x/y size ratio.",
    inputs=[
        _vector("s", "m"),
        _vector("sigma_x", "mm"),
        _vector("sigma_y", "mm"),
        _scalar("max_sigma", None, 0.0, 1e3, "mm"),
        _scalar("final_sigma_x", None, 0.0, 1e3, "mm"),
        _scalar("aperture", APERTURE_MM, 0.1, 1e3, "mm"),
    ],
    outputs=[
        ScalarVariable(name="clearance", value_range=(0.0, 1e3), units="mm"),
        _vector("waist_s", "m", length=2),
        _vector("size_ratio"),
        ScalarVariable(name="final_sigma_x", units="mm"),
        TextVariable(name="report"),
    ],
    function=analyse_envelope,
    **_OWNER,
)

PIPELINE_MODELS = [
    ENVELOPE_SCAN_GRID,
    ENVELOPE_SURROGATE_FIT,
    SURROGATE_VALIDATION,
    ENVELOPE_ANALYSIS,
]
