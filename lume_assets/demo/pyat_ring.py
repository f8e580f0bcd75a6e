"""A real accelerator as a lume-base model: the ESRF-EBS cell shipped in accelerator-toolbox.

`pyat_ring_model(quads=...)` builds a `lume_pyat.LUMEPyATModel` over `machine_data/hmba.mat`:
settable quadrupole strengths (K, 1/m^2) and read-only tunes and beta functions (at a BPM).
Needs the `lume` extra (lume-pyat); only imported explicitly, never by default paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import at
from lume.actions import ReadOnlyActionMixin
from lume.exceptions import ReadOnlyError
from lume.variables import ScalarVariable
from lume_pyat import LUMEPyATModel, PyATSimulator, PyATWritableScalarVariable

HMBA = Path(at.__file__).resolve().parent.parent / "machine_data" / "hmba.mat"
OPTICS = ("tune_x", "tune_y", "beta_x", "beta_y")


def _optics(simulator: PyATSimulator, monitor: str) -> dict[str, float]:
    """Tunes and beta functions at `monitor`, computed once per closed-orbit solve."""
    solution = simulator.last_solution
    cache = getattr(simulator, "_lume_assets_optics", None)
    if cache is not None and cache[0] is solution and monitor in cache[1]:
        return cache[1][monitor]
    ring = simulator.lattice
    index = simulator.unique_element_index(monitor)
    _, ringdata, elemdata = at.linopt2(ring, refpts=[index])
    values = {
        "tune_x": float(ringdata.tune[0]),
        "tune_y": float(ringdata.tune[1]),
        "beta_x": float(elemdata.beta[0][0]),
        "beta_y": float(elemdata.beta[0][1]),
    }
    per_monitor = cache[1] if cache is not None and cache[0] is solution else {}
    per_monitor[monitor] = values
    simulator._lume_assets_optics = (solution, per_monitor)  # type: ignore[attr-defined]
    return values


class OpticsVariable(ReadOnlyActionMixin[PyATSimulator], ScalarVariable):
    """A read-only tune or beta function (m) at one monitor, off the last solve."""

    element_name: str
    quantity: Literal["tune_x", "tune_y", "beta_x", "beta_y"]
    read_only: bool = True

    def _get(self, simulator: PyATSimulator) -> float:
        """Read this optics quantity for the lattice as last solved."""
        return _optics(simulator, self.element_name)[self.quantity]

    def _set(self, simulator: PyATSimulator, value: Any) -> None:
        """Always raises: optics are derived, not settable."""
        raise ReadOnlyError(f"variable {self.name!r} is read-only and cannot be set")


def pyat_ring_model(
    quads: tuple[str, ...] = ("QF1A", "QD2A"), monitor: str = "BPM_01"
) -> LUMEPyATModel:
    """The hmba cell as a LUMEPyATModel: `<quad>_k` inputs, tunes and betas at `monitor`."""
    ring = at.load_mat(str(HMBA))
    ring.disable_6d()
    variables: list[Any] = []
    for quad in quads:
        k = float(ring[ring.get_uint32_index(quad)[0]].K)
        variables.append(
            PyATWritableScalarVariable(
                name=f"{quad}_k",
                element_name=quad,
                attribute="K",
                default_value=k,
                value_range=(k - 0.5, k + 0.5),
                unit="1/m^2",
            )
        )
    for quantity in OPTICS:
        variables.append(
            OpticsVariable(
                name=quantity,
                element_name=monitor,
                quantity=quantity,
                unit=None if quantity.startswith("tune") else "m",
            )
        )
    return LUMEPyATModel(simulator=PyATSimulator(ring), action_variables=variables)
