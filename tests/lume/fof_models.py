"""Three models composed by a LUME-services flow of flows: particles, a file, a db mapping."""

from __future__ import annotations

import numpy as np

from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import (
    FileVariable,
    ParticlesVariable,
    ScalarVariable,
    TextVariable,
)


def make_beam(n: float, sigma_x: float) -> dict:
    """A Gaussian electron bunch (deterministic in its inputs) and a text report."""
    from beamphysics import ParticleGroup

    count = int(n)
    rng = np.random.default_rng(count)
    data = {
        "x": rng.normal(0.0, sigma_x, count),
        "px": rng.normal(0.0, 1e3, count),
        "y": rng.normal(0.0, 2 * sigma_x, count),
        "py": rng.normal(0.0, 1e3, count),
        "z": rng.normal(0.0, 1e-4, count),
        "pz": rng.normal(10e6, 1e4, count),
        "t": np.zeros(count),
        "status": np.ones(count, dtype=int),
        "weight": np.full(count, 1e-12 / count),
        "species": "electron",
    }
    beam = ParticleGroup(data=data)
    return {"beam": beam, "report": f"made {count} electrons, sigma_x {sigma_x:g} m\n"}


def track(particle_file: str, drift: float) -> dict:
    """Read the bunch from its openPMD file, drift it, report emittance and the bunch."""
    from beamphysics import ParticleGroup

    beam = ParticleGroup(h5=particle_file)
    beam.drift(drift)
    return {
        "norm_emit_x": float(beam["norm_emit_x"]),
        "sigma_x": float(beam["sigma_x"]),
        "beam_out": beam,
    }


def analyse(emit: float, beam: object, log: str) -> dict:
    """Combine the tracked emittance, the bunch itself and the source's log file."""
    with open(log, encoding="utf-8") as fh:
        lines = fh.read().count("\n")
    return {
        "emit_ratio": emit / float(beam["norm_emit_y"]),
        "n": float(beam.n_particle),
        "log_lines": float(lines),
    }


SOURCE = ModelSpec(
    name="beam_source",
    version="1",
    function=make_beam,
    inputs=[ScalarVariable(name="n", default=500), ScalarVariable(name="sigma_x", default=1e-3)],
    outputs=[ParticlesVariable(name="beam"), TextVariable(name="report")],
)
TRACKER = ModelSpec(
    name="tracker",
    version="1",
    function=track,
    inputs=[
        FileVariable(name="particle_file", suffixes=(".h5",)),
        ScalarVariable(name="drift", default=0.5),
    ],
    outputs=[
        ScalarVariable(name="norm_emit_x", units="m"),
        ScalarVariable(name="sigma_x"),
        ParticlesVariable(name="beam_out"),
    ],
)
ANALYSIS = ModelSpec(
    name="analysis",
    version="1",
    function=analyse,
    inputs=[ScalarVariable(name="emit"), ParticlesVariable(name="beam"), FileVariable(name="log")],
    outputs=[
        ScalarVariable(name="emit_ratio"),
        ScalarVariable(name="n"),
        ScalarVariable(name="log_lines"),
    ],
)
