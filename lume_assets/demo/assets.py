"""The demo asset graph: the beam-envelope model, a partitioned quad scan, a surrogate, a check.

- `beam_envelope/*` — the model as assets (`model_asset`): result record, envelope arrays
  (HDF5), text report; cached by inputs hash.
- `envelope_scan` — matched-beam size over a grid of quad strengths, one static partition per
  focusing strength k_f, each partition a vectorized sweep of k_d; single-run backfills evaluate
  many partitions in one call. Each point is also stored as a `Result` (queryable).
- `envelope_surrogate` — a cubic polynomial in (k_f, k_d) fitted to the scan by least squares.
- check `surrogate_matches_simulation` — fresh simulations at random points of the scanned
  domain agree with the surrogate within `SURROGATE_TOLERANCE` (relative).
"""

import warnings
from typing import Any

import dagster as dg
import numpy as np

from lume_assets.assets.evaluation import evaluate, result_of, validate_points
from lume_assets.assets.model_assets import model_asset
from lume_assets.assets.model_config import ScanConfig
from lume_assets.demo.beam_model import BEAM_ENVELOPE, matched_points
from lume_assets.demo.pipeline_models import fit_surrogate, predict, surrogate_errors
from lume_assets.storage.results import Provenance

GROUP = "demo"  # the model: self-contained, what the `demo_job` launches
SCAN_GROUP = "demo_scan"  # the partitioned scan and the surrogate fitted on it
#: focusing strengths scanned, one partition each (1/m^2)
SCAN_K_F = (2.0, 2.1, 2.2, 2.3, 2.4)
#: defocusing strengths swept inside every partition (1/m^2)
SCAN_K_D = tuple(float(v) for v in np.round(np.linspace(-2.4, -2.0, 17), 6))
#: largest relative error allowed between surrogate and fresh simulation
SURROGATE_TOLERANCE = 0.05
SURROGATE_DEGREE = 3
CHECK_POINTS = 24

scan_partitions = dg.StaticPartitionsDefinition([f"{k:.2f}" for k in SCAN_K_F])

beam_envelope = model_asset(BEAM_ENVELOPE, group_name=GROUP)


def _envelope_scan(
    context: dg.AssetExecutionContext, config: ScanConfig
) -> dict[str, dict[str, Any]]:
    """Matched rms beam size over (k_f, k_d): one partition per k_f, k_d swept inside it
    (`force` re-evaluates stored points, as for any scan)."""
    keys = list(context.partition_keys)
    k_f = np.repeat([float(k) for k in keys], len(SCAN_K_D))
    k_d = np.tile(SCAN_K_D, len(keys))
    points = validate_points(BEAM_ENVELOPE, matched_points(k_f, k_d))
    store = context.resources.result_store.get_store()
    # the evaluation core: stored points reused, the rest in one vectorized batch call
    evals = evaluate(
        BEAM_ENVELOPE, points, store=store, force=config.force, log=context.log.warning
    )
    outputs = [ev.outputs for ev in evals]
    deployment = context.resources.registry.registry.register_spec(BEAM_ENVELOPE)
    # complete records, visible together: a later model run with these inputs is a cache hit
    store.put_chunk(
        [
            result_of(
                BEAM_ENVELOPE,
                ev,
                Provenance(
                    run_id=context.run.run_id,
                    asset_key=context.asset_key.to_user_string(),
                    partition_key=keys[i // len(SCAN_K_D)],
                    code_sha=deployment.source_sha256,
                    deployment_id=deployment.id,
                ),
            )
            for i, ev in enumerate(evals)
            if not ev.cache_hit
        ]
    )
    todo = sum(not ev.cache_hit for ev in evals)
    tables: dict[str, dict[str, Any]] = {}
    for j, key in enumerate(keys):
        part = slice(j * len(SCAN_K_D), (j + 1) * len(SCAN_K_D))
        tables[key] = {
            "k_f": k_f[part],
            "k_d": k_d[part],
            "beta_x": np.array([p["beta_x"] for p in points[part]]),
            "beta_y": np.array([p["beta_y"] for p in points[part]]),
            "max_sigma": np.array([o["max_sigma"] for o in outputs[part]]),
        }
    context.add_output_metadata(
        {
            "points": dg.MetadataValue.int(len(points)),
            "partitions": dg.MetadataValue.text(", ".join(keys)),
            "max_sigma_range_mm": dg.MetadataValue.text(
                f"{min(o['max_sigma'] for o in outputs):.4f} .. "
                f"{max(o['max_sigma'] for o in outputs):.4f}"
            ),
            "evaluated": dg.MetadataValue.int(todo),
            "cache_hits": dg.MetadataValue.int(len(points) - todo),
        }
    )
    return tables


with warnings.catch_warnings():  # backfill_policy is a Dagster "beta" parameter; we rely on it
    warnings.simplefilter("ignore", dg.BetaWarning)
    envelope_scan = dg.asset(
        name="envelope_scan",
        group_name=SCAN_GROUP,
        partitions_def=scan_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key="hdf5_io_manager",
        required_resource_keys={"result_store", "registry"},
        code_version=BEAM_ENVELOPE.version,
        kinds={"numpy", "hdf5"},
    )(_envelope_scan)


def surrogate_predict(surrogate: dict[str, Any], k_f: np.ndarray, k_d: np.ndarray) -> np.ndarray:
    """Evaluate the fitted polynomial at (k_f, k_d)."""
    return predict(surrogate["exponents"], surrogate["coefficients"], k_f, k_d)


def _scan_tables(envelope_scan: Any) -> list[dict[str, Any]]:
    """The scan partitions as a list of tables (one partition loads as the table itself)."""
    if isinstance(envelope_scan, dict) and "max_sigma" in envelope_scan:
        return [envelope_scan]
    return list(envelope_scan.values())


@dg.asset(
    group_name=SCAN_GROUP, io_manager_key="hdf5_io_manager", code_version="1", kinds={"numpy"}
)
def envelope_surrogate(context: dg.AssetExecutionContext, envelope_scan: Any) -> dict[str, Any]:
    """Cubic polynomial max_sigma(k_f, k_d) fitted to the scan by linear least squares."""
    tables = _scan_tables(envelope_scan)
    k_f = np.concatenate([t["k_f"] for t in tables])
    k_d = np.concatenate([t["k_d"] for t in tables])
    y = np.concatenate([t["max_sigma"] for t in tables])
    surrogate = fit_surrogate(k_f, k_d, y, SURROGATE_DEGREE)
    context.add_output_metadata(
        {
            "training_points": dg.MetadataValue.int(int(y.size)),
            "rms_residual_mm": dg.MetadataValue.float(surrogate["rms_residual"]),
            "degree": dg.MetadataValue.int(SURROGATE_DEGREE),
        }
    )
    return surrogate


@dg.asset_check(
    asset=envelope_surrogate,
    description=f"Surrogate within {SURROGATE_TOLERANCE:.0%} of fresh simulations "
    f"at {CHECK_POINTS} random points of the scanned domain.",
)
def surrogate_matches_simulation(envelope_surrogate: dict[str, Any]) -> dg.AssetCheckResult:
    """Compare surrogate predictions with fresh beam-envelope simulations."""
    errors = surrogate_errors(
        envelope_surrogate["exponents"],
        envelope_surrogate["coefficients"],
        envelope_surrogate["k_f_range"],
        envelope_surrogate["k_d_range"],
        CHECK_POINTS,
        seed=20240601,
    )
    k_f, k_d, rel = errors["k_f"], errors["k_d"], errors["relative_error"]
    simulated, predicted = errors["simulated"], errors["predicted"]
    worst = int(np.argmax(rel))
    return dg.AssetCheckResult(
        passed=bool(rel.max() <= SURROGATE_TOLERANCE),
        metadata={
            "max_relative_error": dg.MetadataValue.float(float(rel.max())),
            "mean_relative_error": dg.MetadataValue.float(float(rel.mean())),
            "tolerance": dg.MetadataValue.float(SURROGATE_TOLERANCE),
            "worst_point": dg.MetadataValue.text(
                f"k_f={k_f[worst]:.4f}, k_d={k_d[worst]:.4f}: simulated "
                f"{simulated[worst]:.4f} mm, surrogate {predicted[worst]:.4f} mm"
            ),
        },
    )


demo_assets = [beam_envelope, envelope_scan, envelope_surrogate]
demo_checks = [surrogate_matches_simulation]
demo_models = [BEAM_ENVELOPE]
