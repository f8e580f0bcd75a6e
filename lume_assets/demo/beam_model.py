"""The demo model: a beam envelope through a FODO lattice, as a `ModelSpec`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lume_assets.demo.physics import Fodo, emittance_of, matched_twiss, propagate, sigma_from_twiss
from lume_assets.models.model import ModelResources, ModelSpec, RetrySpec
from lume_assets.models.variables import ArrayVariable, ScalarVariable, TextVariable

#: Nominal lattice: 4 FODO cells of 0.2 m quads and 1 m drifts.
NOMINAL = {"k_f": 2.0, "k_d": -2.0, "quad_length": 0.2, "drift_length": 1.0}
CELLS = 4
#: Beam pipe radius in mm: an rms size above it fails the output range check.
APERTURE_MM = 20.0


def _nominal_match() -> dict[str, float]:
    """Matched Twiss of the nominal lattice, rounded for use as defaults."""
    fodo = Fodo(
        k_f=np.array([NOMINAL["k_f"]]),
        k_d=np.array([NOMINAL["k_d"]]),
        quad_length=np.array([NOMINAL["quad_length"]]),
        drift_length=np.array([NOMINAL["drift_length"]]),
        cells=CELLS,
    )
    ax, bx, _ = matched_twiss(fodo, "x")
    ay, by, _ = matched_twiss(fodo, "y")
    return {
        "alpha_x": round(float(ax[0]), 6),
        "beta_x": round(float(bx[0]), 6),
        "alpha_y": round(float(ay[0]), 6),
        "beta_y": round(float(by[0]), 6),
    }


MATCH = _nominal_match()


def beam_envelope_batch(**inputs: np.ndarray) -> dict[str, Any]:
    """Vectorized model: every input is an array of N points; outputs are per point."""
    k_f = np.atleast_1d(np.asarray(inputs["k_f"], float))
    fodo = Fodo(
        k_f=k_f,
        k_d=np.atleast_1d(np.asarray(inputs["k_d"], float)),
        quad_length=np.atleast_1d(np.asarray(inputs["quad_length"], float)),
        drift_length=np.atleast_1d(np.asarray(inputs["drift_length"], float)),
        cells=CELLS,
    )
    sx0 = sigma_from_twiss(inputs["alpha_x"], inputs["beta_x"], inputs["emittance_x"])
    sy0 = sigma_from_twiss(inputs["alpha_y"], inputs["beta_y"], inputs["emittance_y"])
    env = propagate(
        fodo, np.broadcast_to(sx0, k_f.shape + (2, 2)), np.broadcast_to(sy0, k_f.shape + (2, 2))
    )
    eps_x, eps_y = emittance_of(env.final_sigma_x), emittance_of(env.final_sigma_y)
    n = k_f.shape[0]
    reports = [
        _report(
            {k: float(np.atleast_1d(v)[i]) for k, v in inputs.items()}, env, i, eps_x[i], eps_y[i]
        )
        for i in range(n)
    ]
    return {
        "s": [env.s] * n,
        "sigma_x": list(env.sigma_x_mm),
        "sigma_y": list(env.sigma_y_mm),
        "max_sigma": env.max_size_mm,
        "emittance_x_final": eps_x,
        "emittance_y_final": eps_y,
        "report": reports,
    }


def beam_envelope(**inputs: float) -> dict[str, Any]:
    """One lattice: beam sizes along s, max size, final emittances and a text report."""
    out = beam_envelope_batch(**{k: np.array([v]) for k, v in inputs.items()})
    return {k: v[0] for k, v in out.items()}


def _report(inputs: Mapping[str, float], env: Any, i: int, eps_x: float, eps_y: float) -> str:
    """A plain-text summary of one envelope."""
    sx, sy = env.sigma_x_mm[i], env.sigma_y_mm[i]
    lines = [
        "Beam envelope through a FODO lattice",
        f"cells: {CELLS}, length: {env.s[-1]:.3f} m, samples: {env.s.size}",
        "inputs:",
        *(f"  {k:>14} = {v:.6g}" for k, v in sorted(inputs.items())),
        "outputs:",
        *(
            f"  sigma_{p}: min {v.min():.4f} mm, max {v.max():.4f} mm at s = "
            f"{env.s[v.argmax()]:.3f} m"
            for p, v in (("x", sx), ("y", sy))
        ),
        f"  emittance x: {inputs['emittance_x']:.6g} -> {eps_x:.6g} m rad",
        f"  emittance y: {inputs['emittance_y']:.6g} -> {eps_y:.6g} m rad",
    ]
    return "\n".join(lines) + "\n"


def plot_envelope(inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> Any:
    """Matplotlib figure of sigma_x and sigma_y along s."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.2), dpi=100)
    ax = fig.add_subplot()
    ax.plot(outputs["s"], outputs["sigma_x"], label="sigma_x")
    ax.plot(outputs["s"], outputs["sigma_y"], label="sigma_y")
    ax.set_xlabel("s [m]")
    ax.set_ylabel("rms size [mm]")
    ax.set_title(f"FODO envelope (k_f={inputs['k_f']:g}, k_d={inputs['k_d']:g})")
    ax.legend()
    fig.tight_layout()
    return fig


def _scalar(
    name: str, default: float, lo: float, hi: float, units: str, doc: str
) -> ScalarVariable:
    """Shorthand for a ranged scalar input."""
    return ScalarVariable(
        name=name, default=default, value_range=(lo, hi), units=units, description=doc
    )


BEAM_ENVELOPE = ModelSpec(
    name="beam_envelope",
    version="1.0.0",
    description="RMS beam envelope through a 4-cell FODO lattice (linear optics, thick quads).",
    inputs=[
        _scalar("k_f", NOMINAL["k_f"], 0.0, 10.0, "1/m^2", "focusing quad strength"),
        _scalar("k_d", NOMINAL["k_d"], -10.0, 0.0, "1/m^2", "defocusing quad strength"),
        _scalar("quad_length", NOMINAL["quad_length"], 0.05, 1.0, "m", "quad length"),
        _scalar("drift_length", NOMINAL["drift_length"], 0.1, 5.0, "m", "drift length"),
        _scalar("alpha_x", MATCH["alpha_x"], -20.0, 20.0, "", "initial Twiss alpha, x"),
        _scalar("beta_x", MATCH["beta_x"], 0.01, 100.0, "m", "initial Twiss beta, x"),
        _scalar("alpha_y", MATCH["alpha_y"], -20.0, 20.0, "", "initial Twiss alpha, y"),
        _scalar("beta_y", MATCH["beta_y"], 0.01, 100.0, "m", "initial Twiss beta, y"),
        _scalar("emittance_x", 1e-6, 1e-12, 1e-3, "m rad", "geometric emittance, x"),
        _scalar("emittance_y", 1e-6, 1e-12, 1e-3, "m rad", "geometric emittance, y"),
    ],
    outputs=[
        ArrayVariable(name="s", shape=(None,), units="m", description="position along the line"),
        ArrayVariable(name="sigma_x", shape=(None,), units="mm", description="rms size, x"),
        ArrayVariable(name="sigma_y", shape=(None,), units="mm", description="rms size, y"),
        ScalarVariable(
            name="max_sigma",
            value_range=(0.0, APERTURE_MM),
            units="mm",
            description="largest rms size in either plane (must fit the beam pipe)",
        ),
        ScalarVariable(name="emittance_x_final", value_range=(0.0, 1e-3), units="m rad"),
        ScalarVariable(name="emittance_y_final", value_range=(0.0, 1e-3), units="m rad"),
        TextVariable(name="report", description="plain-text summary"),
    ],
    function=beam_envelope,
    batch_function=beam_envelope_batch,
    plot=plot_envelope,
    resources=ModelResources(cpu="500m", memory="512Mi"),
    retry=RetrySpec(max_retries=2, delay=1.0, backoff="exponential"),
    timeout=60.0,
    owners=["beam-physics@lume.example"],
    project="demo",
    author="LUME demo",
    laboratory="SLAC",
    facility="LCLS",
    beampath="cu_hxr",
)


def matched_points(k_f: np.ndarray, k_d: np.ndarray) -> list[dict[str, float]]:
    """Model inputs for lattices (k_f[i], k_d[i]), each with its own matched beam (x and y)."""
    k_f, k_d = np.asarray(k_f, float).ravel(), np.asarray(k_d, float).ravel()
    n = k_f.size
    fodo = Fodo(
        k_f=k_f,
        k_d=k_d,
        quad_length=np.full(n, NOMINAL["quad_length"]),
        drift_length=np.full(n, NOMINAL["drift_length"]),
        cells=CELLS,
    )
    ax, bx, _ = matched_twiss(fodo, "x")
    ay, by, _ = matched_twiss(fodo, "y")
    return [
        {
            "k_f": float(k_f[i]),
            "k_d": float(k_d[i]),
            "alpha_x": float(ax[i]),
            "beta_x": float(bx[i]),
            "alpha_y": float(ay[i]),
            "beta_y": float(by[i]),
        }
        for i in range(n)
    ]
