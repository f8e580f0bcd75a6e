"""Interim demo model: a damped harmonic oscillator integrated with numpy (replaced by issue 4)."""

import dagster as dg
import numpy as np


class OscillatorConfig(dg.Config):
    """Inputs of the damped oscillator."""

    omega: float = 2.0 * np.pi
    damping: float = 0.1
    x0: float = 1.0
    n_steps: int = 1000
    dt: float = 1e-3


@dg.asset(group_name="demo", code_version="1", io_manager_key="hdf5_io_manager")
def oscillator_trajectory(config: OscillatorConfig) -> dict:
    """Position over time of a damped harmonic oscillator (symplectic Euler)."""
    x, v = config.x0, 0.0
    xs = np.empty(config.n_steps)
    for i in range(config.n_steps):
        v += (-(config.omega**2) * x - 2 * config.damping * config.omega * v) * config.dt
        x += v * config.dt
        xs[i] = x
    return {"t": np.arange(config.n_steps) * config.dt, "x": xs}


@dg.asset(group_name="demo", code_version="1", io_manager_key="text_io_manager")
def oscillator_summary(oscillator_trajectory: dict) -> str:
    """A text report: peak amplitude and final position of the trajectory."""
    x = oscillator_trajectory["x"]
    return (
        f"damped oscillator, {x.size} steps\n"
        f"peak |x|: {float(np.max(np.abs(x))):.6g}\n"
        f"final x:  {float(x[-1]):.6g}\n"
    )


demo_assets = [oscillator_trajectory, oscillator_summary]
