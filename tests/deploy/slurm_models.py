"""Models the Slurm tests run inside jobs (imported there by `module:ATTR`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import ScalarVariable


def _first_run_hangs(x: float) -> dict[str, float]:
    """Hang (until cancelled) the first time, answer at once afterwards (a marker file)."""
    marker = Path(os.environ["LUME_TEST_SLURM_MARKER"])
    if not marker.exists():
        marker.write_text(os.environ.get("SLURM_JOB_ID", "?"))
        time.sleep(600)
    return {"y": 2.0 * x}


#: hangs in its first Slurm job so the test can `scancel` it; the retry completes
HANGS_ONCE = ModelSpec(
    name="hangs_once",
    version="1",
    inputs=[ScalarVariable(name="x", default=0.0)],
    outputs=[ScalarVariable(name="y")],
    function=_first_run_hangs,
)
