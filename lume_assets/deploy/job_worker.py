"""The program a chunk job runs: one chunk of model points, in a Slurm job, container or pod.

``python -m lume_assets.deploy.job_worker`` inside the job (`lume_assets.deploy.chunk_jobs`:
Slurm, Docker and Kubernetes run the same program). It opens Dagster Pipes (context and
messages as the client set them up: files on the shared filesystem for Slurm, the environment
and the container's log for Docker and Kubernetes),
imports the model named by the ``model`` extra (``package.module:ATTR``), evaluates the points
in the ``points_file`` extra (one vectorized call when the model has a batch function and the
``batch`` extra is not false, as the in-process runner does for one point), writes
the outputs to the ``outputs_file`` extra (temp file, then rename: a reader never sees half a
file) and reports a summary back to Dagster as a custom message. Points and outputs are JSON
encoded by the result codec (arrays as typed base64), never pickle. Only `dagster_pipes` and the
model's own imports are loaded here, not Dagster itself.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from dagster_pipes import open_dagster_pipes

from lume_assets.models.catalogue import import_model
from lume_assets.storage.encoding import Codec

CODEC = Codec(binary="base64", array_threshold=1 << 62, inline_budget=1 << 62)


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON to `path` through a temp file and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, allow_nan=True, separators=(",", ":")))
    os.replace(tmp, path)


def main() -> None:
    """Evaluate the chunk described by the Pipes extras and report back."""
    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        spec = import_model(str(extras["model"]))
        points = CODEC.decode(json.loads(Path(extras["points_file"]).read_text()), "points")
        start = time.perf_counter()
        checked = [spec.validate_inputs(p) for p in points]
        outputs = spec.evaluate_checked(checked, batch=bool(extras.get("batch", True)))
        seconds = time.perf_counter() - start
        write_json_atomic(Path(extras["outputs_file"]), CODEC.encode(outputs, "outputs"))
        summary = {
            "model": spec.name,
            "version": spec.version,
            "points": len(points),
            "seconds": round(seconds, 6),
            "host": socket.gethostname(),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "job": extras.get("job"),
        }
        where = (
            f"Slurm job {summary['slurm_job_id']}" if summary["slurm_job_id"] else extras.get("job")
        )
        pipes.log.info(
            f"evaluated {len(points)} point(s) of {spec.name} v{spec.version} in {seconds:.3f} s "
            f"on {summary['host']} ({where})"
        )
        pipes.report_custom_message(summary)


if __name__ == "__main__":
    main()
