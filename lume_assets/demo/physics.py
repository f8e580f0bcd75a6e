"""Linear beam optics in numpy: a beam's sigma matrix propagated through a FODO lattice.

Both transverse planes are tracked with thick-quadrupole and drift transfer matrices. Every
function is vectorized over a leading batch axis, so a parameter scan of N lattices is one call.
Units: lengths in m, quadrupole strengths k in 1/m^2 (k > 0 focuses in x, defocuses in y),
emittances in m rad, beam sizes returned in mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def quad_matrix(k: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Thick-quadrupole 2x2 transfer matrices, shape (N, 2, 2); k == 0 gives a drift."""
    k = np.asarray(k, dtype=float)
    length = np.broadcast_to(np.asarray(length, dtype=float), k.shape)
    root = np.sqrt(np.abs(k))
    phi = root * length
    m = np.empty(k.shape + (2, 2))
    foc, defoc, zero = k > 0, k < 0, k == 0
    # focusing: cos/sin
    m[foc] = _stack(
        np.cos(phi[foc]),
        np.sin(phi[foc]) / root[foc],
        -root[foc] * np.sin(phi[foc]),
        np.cos(phi[foc]),
    )
    # defocusing: cosh/sinh
    m[defoc] = _stack(
        np.cosh(phi[defoc]),
        np.sinh(phi[defoc]) / root[defoc],
        root[defoc] * np.sinh(phi[defoc]),
        np.cosh(phi[defoc]),
    )
    m[zero] = drift_matrix(length[zero])
    return m


def drift_matrix(length: np.ndarray) -> np.ndarray:
    """Drift 2x2 transfer matrices [[1, L], [0, 1]], shape (N, 2, 2)."""
    length = np.asarray(length, dtype=float)
    ones = np.ones_like(length)
    return _stack(ones, length, np.zeros_like(length), ones)


def _stack(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Stack four equal-shaped arrays into (..., 2, 2) matrices [[a, b], [c, d]]."""
    return np.stack([np.stack([a, b], -1), np.stack([c, d], -1)], -2)


def sigma_from_twiss(alpha: np.ndarray, beta: np.ndarray, emittance: np.ndarray) -> np.ndarray:
    """Beam sigma matrices eps * [[beta, -alpha], [-alpha, gamma]], shape (N, 2, 2)."""
    alpha, beta, emittance = np.broadcast_arrays(
        np.asarray(alpha, float), np.asarray(beta, float), np.asarray(emittance, float)
    )
    gamma = (1.0 + alpha**2) / beta
    return emittance[..., None, None] * _stack(beta, -alpha, -alpha, gamma)


def twiss_from_sigma(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (alpha, beta, emittance) of sigma matrices (..., 2, 2)."""
    eps = emittance_of(sigma)
    return -sigma[..., 0, 1] / eps, sigma[..., 0, 0] / eps, eps


def emittance_of(sigma: np.ndarray) -> np.ndarray:
    """RMS emittance sqrt(det sigma)."""
    return np.sqrt(np.linalg.det(sigma))


def transport(sigma: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Propagate sigma matrices through transfer matrices: M sigma M^T."""
    return m @ sigma @ np.swapaxes(m, -1, -2)


@dataclass(frozen=True)
class Fodo:
    """A FODO lattice: `cells` x [QF (k_f) - drift - QD (k_d) - drift]; arrays of shape (N,)."""

    k_f: np.ndarray
    k_d: np.ndarray
    quad_length: np.ndarray
    drift_length: np.ndarray
    cells: int = 4
    slices: int = 8

    def elements(self, plane: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """One cell as (k, length) pairs for plane 'x' or 'y' (k flips sign in y)."""
        sign = 1.0 if plane == "x" else -1.0
        zero = np.zeros_like(np.asarray(self.k_f, float))
        return [
            (sign * np.asarray(self.k_f, float), self.quad_length),
            (zero, self.drift_length),
            (sign * np.asarray(self.k_d, float), self.quad_length),
            (zero, self.drift_length),
        ]

    def cell_matrix(self, plane: str) -> np.ndarray:
        """Transfer matrix of one cell, shape (N, 2, 2)."""
        total = None
        for k, length in self.elements(plane):
            m = quad_matrix(k, length)
            total = m if total is None else m @ total
        return total  # type: ignore[return-value]

    def cell_length(self) -> np.ndarray:
        """Length of one cell in m."""
        return 2 * np.asarray(self.quad_length, float) + 2 * np.asarray(self.drift_length, float)


def matched_twiss(fodo: Fodo, plane: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Periodic (matched) (alpha, beta, phase advance mu) at the cell start; NaN if unstable."""
    m = fodo.cell_matrix(plane)
    cos_mu = 0.5 * (m[..., 0, 0] + m[..., 1, 1])
    stable = np.abs(cos_mu) < 1
    mu = np.where(stable, np.arccos(np.clip(cos_mu, -1, 1)), np.nan)
    sin_mu = np.sign(m[..., 0, 1]) * np.sqrt(np.clip(1 - cos_mu**2, 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(stable, m[..., 0, 1] / sin_mu, np.nan)
        alpha = np.where(stable, (m[..., 0, 0] - m[..., 1, 1]) / (2 * sin_mu), np.nan)
    return alpha, beta, mu


@dataclass(frozen=True)
class Envelope:
    """Beam envelope along the lattice for N lattices: s (M,), sizes (N, M), final sigmas."""

    s: np.ndarray
    sigma_x_mm: np.ndarray
    sigma_y_mm: np.ndarray
    final_sigma_x: np.ndarray
    final_sigma_y: np.ndarray

    @property
    def max_size_mm(self) -> np.ndarray:
        """Largest rms size (either plane) along the lattice, per lattice, in mm."""
        return np.maximum(self.sigma_x_mm.max(axis=-1), self.sigma_y_mm.max(axis=-1))


def propagate(
    fodo: Fodo,
    sigma_x0: np.ndarray,
    sigma_y0: np.ndarray,
) -> Envelope:
    """Track sigma matrices (N, 2, 2) through the lattice, sampling sizes inside every element."""
    sx, sy = np.asarray(sigma_x0, float), np.asarray(sigma_y0, float)
    quad_length = np.asarray(fodo.quad_length, float)
    drift_length = np.asarray(fodo.drift_length, float)
    # s positions are shared by all lattices only when lengths are scalars; use the first
    # lattice's lengths for s and require equal lengths across the batch.
    if np.ptp(np.atleast_1d(quad_length)) or np.ptp(np.atleast_1d(drift_length)):
        raise ValueError("all lattices of one batch must share quad and drift lengths")
    xs, ys = [np.sqrt(sx[..., 0, 0])], [np.sqrt(sy[..., 0, 0])]
    s_points = [0.0]
    s = 0.0
    for _ in range(fodo.cells):
        ex, ey = fodo.elements("x"), fodo.elements("y")
        for (kx, length), (ky, _) in zip(ex, ey, strict=True):
            step = np.asarray(length, float) / fodo.slices
            mx, my = quad_matrix(kx, step), quad_matrix(ky, step)
            for _ in range(fodo.slices):
                sx, sy = transport(sx, mx), transport(sy, my)
                s += float(np.atleast_1d(step)[0])
                s_points.append(s)
                xs.append(np.sqrt(sx[..., 0, 0]))
                ys.append(np.sqrt(sy[..., 0, 0]))
    return Envelope(
        s=np.asarray(s_points),
        sigma_x_mm=1e3 * np.stack(xs, axis=-1),
        sigma_y_mm=1e3 * np.stack(ys, axis=-1),
        final_sigma_x=sx,
        final_sigma_y=sy,
    )
