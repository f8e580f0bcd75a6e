"""The demo's linear optics: symplectic maps, matched FODO periodicity, analytic drifts."""

from __future__ import annotations

import numpy as np
import pytest

from lume_assets.demo.beam_model import BEAM_ENVELOPE, MATCH, NOMINAL
from lume_assets.demo.physics import (
    Fodo,
    drift_matrix,
    emittance_of,
    matched_twiss,
    propagate,
    quad_matrix,
    sigma_from_twiss,
    transport,
    twiss_from_sigma,
)


def fodo(k_f=2.0, k_d=-2.0, lq=0.2, ld=1.0, n=1, cells=4) -> Fodo:
    full = lambda v: np.full(n, v, dtype=float)  # noqa: E731
    return Fodo(
        k_f=full(k_f), k_d=full(k_d), quad_length=full(lq), drift_length=full(ld), cells=cells
    )


@pytest.mark.parametrize("k", [3.0, -3.0, 0.0])
def test_element_matrices_are_symplectic(k: float) -> None:
    m = quad_matrix(np.array([k]), np.array([0.3]))
    assert np.linalg.det(m)[0] == pytest.approx(1.0, abs=1e-12)


def test_thick_quad_tends_to_thin_lens() -> None:
    k, length = 4.0, 1e-4
    m = quad_matrix(np.array([k]), np.array([length]))[0]
    assert m[1, 0] == pytest.approx(-k * length, rel=1e-6)  # -1/f


def test_emittance_is_conserved_through_the_lattice() -> None:
    lattice = fodo(k_f=2.7, k_d=-1.3, n=3)
    sx = sigma_from_twiss(
        np.array([0.5, -1, 2]), np.array([3.0, 7, 1]), np.array([1e-6, 2e-9, 5e-7])
    )
    env = propagate(lattice, sx, sx.copy())
    np.testing.assert_allclose(emittance_of(env.final_sigma_x), [1e-6, 2e-9, 5e-7], rtol=1e-9)
    np.testing.assert_allclose(emittance_of(env.final_sigma_y), [1e-6, 2e-9, 5e-7], rtol=1e-9)


def test_matched_beam_returns_to_its_twiss_after_each_cell() -> None:
    lattice = fodo(cells=3)
    ax, bx, mu_x = matched_twiss(lattice, "x")
    ay, by, _ = matched_twiss(lattice, "y")
    assert 0 < mu_x[0] < np.pi
    s0x, s0y = sigma_from_twiss(ax, bx, 1e-6), sigma_from_twiss(ay, by, 1e-6)
    env = propagate(lattice, s0x, s0y)
    for s_end, s0 in ((env.final_sigma_x, s0x), (env.final_sigma_y, s0y)):
        alpha, beta, eps = twiss_from_sigma(s_end)
        a0, b0, e0 = twiss_from_sigma(s0)
        np.testing.assert_allclose([alpha[0], beta[0], eps[0]], [a0[0], b0[0], e0[0]], rtol=1e-9)
    # the envelope is periodic: same size at every cell boundary
    per_cell = (env.s.size - 1) // 3
    np.testing.assert_allclose(env.sigma_x_mm[0, ::per_cell], env.sigma_x_mm[0, 0], rtol=1e-9)


def test_unstable_lattice_has_no_matched_solution() -> None:
    alpha, beta, mu = matched_twiss(fodo(k_f=9.0, k_d=-9.0, ld=3.0), "x")
    assert np.isnan(beta[0]) and np.isnan(mu[0])


def test_drift_sigma_grows_as_the_analytic_formula() -> None:
    beta0, alpha0, eps, length = 2.0, 0.0, 1e-6, 3.0
    s0 = sigma_from_twiss(np.array([alpha0]), np.array([beta0]), np.array([eps]))
    s1 = transport(s0, drift_matrix(np.array([length])))
    gamma0 = (1 + alpha0**2) / beta0
    beta1 = beta0 - 2 * alpha0 * length + gamma0 * length**2
    assert s1[0, 0, 0] == pytest.approx(eps * beta1, rel=1e-12)
    # and through propagate with zero-strength quads (all drift), every sample matches
    lattice = fodo(k_f=0.0, k_d=0.0, lq=0.5, ld=1.0, cells=1)
    env = propagate(lattice, s0, s0.copy())
    expected = 1e3 * np.sqrt(eps * (beta0 + gamma0 * env.s**2))
    np.testing.assert_allclose(env.sigma_x_mm[0], expected, rtol=1e-12)


def test_demo_model_defaults_are_matched_and_conserve_emittance() -> None:
    out = BEAM_ENVELOPE.evaluate()
    assert out["emittance_x_final"] == pytest.approx(1e-6, rel=1e-9)
    sx = out["sigma_x"]
    # matched (defaults are rounded to 1e-6): size at the end equals size at the start
    assert sx[-1] == pytest.approx(sx[0], rel=1e-5)
    assert out["max_sigma"] == pytest.approx(max(sx.max(), out["sigma_y"].max()))
    assert "emittance x: 1e-06 -> 1e-06 m rad" in out["report"]
    assert BEAM_ENVELOPE.out_of_range_outputs(out) == []
    assert set(MATCH) == {"alpha_x", "beta_x", "alpha_y", "beta_y"}
    assert NOMINAL["k_f"] > 0


def test_demo_batch_equals_pointwise() -> None:
    points = [{"k_f": kf, "k_d": kd} for kf in (1.8, 2.2) for kd in (-1.9, -2.3)]
    batch = BEAM_ENVELOPE.evaluate_batch(points)
    for p, b in zip(points, batch, strict=True):
        single = BEAM_ENVELOPE.evaluate(p)
        assert b["max_sigma"] == pytest.approx(single["max_sigma"], rel=1e-12)
        np.testing.assert_allclose(b["sigma_y"], single["sigma_y"], rtol=1e-12)
        assert b["report"] == single["report"]
