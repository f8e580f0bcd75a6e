"""A 10,000-point parameter scan through lume_assets vs a plain Python loop, same process.

lume_assets: `scan_asset` over a 100 x 100 grid in chunks of 1,000 points, materialized as ONE
run (a single-run backfill: partition-range tags) on a SQLite-backed Dagster instance, with the
real result store (put_many per chunk) and the real HDF5 IO manager (one file per chunk).

Plain loop: for every point call the model function, build the same `Result` documents, write
them with the same store's put_many per chunk and the same columns to one HDF5 file per chunk
with h5py.

    PYTHONPATH=$PWD /work/main/.venv/bin/python bench/scan_bench.py [--points 10000]
        [--chunk 1000] [--no-batch] [--results-url URL]
"""

import argparse
import math
import tempfile
import time
from pathlib import Path

import dagster as dg
import h5py
import numpy as np
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from lume_assets.assets.scan_asset import scan_asset
from lume_assets.assets.scan_grid import LinSpace, ScanSpec
from lume_assets.demo.focus_model import focus, make_focus_spec
from lume_assets.deploy.chunk_runners import ChunkRunner
from lume_assets.io_managers.hdf5 import HDF5IOManager
from lume_assets.io_managers.results import ResultStoreResource
from lume_assets.models.model import ModelSpec
from lume_assets.storage.result_stores import open_result_store
from lume_assets.storage.results import Result


def run_lume(spec: ModelSpec, scan: ScanSpec, root: Path, url: str) -> float:
    """Materialize the whole scan as one run; return seconds."""
    asset = scan_asset(spec, scan)
    keys = scan.chunk_keys()
    resources = {
        "result_store": ResultStoreResource(url=url, files_root=str(root / "files")),
        "hdf5_io_manager": HDF5IOManager(root_dir=str(root / "files")),
        "chunk_runner": ChunkRunner(),
    }
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    (root / "dagster").mkdir(exist_ok=True)
    with dg.instance_for_test(temp_dir=str(root / "dagster")) as instance:
        t0 = time.perf_counter()
        result = dg.materialize([asset], instance=instance, resources=resources, tags=tags)
        elapsed = time.perf_counter() - t0
        assert result.success and len(instance.get_runs()) == 1
    store = open_result_store(url, files_root=root / "files")
    assert store.count(spec.name) == scan.size, store.count(spec.name)
    return elapsed


def run_plain(spec: ModelSpec, scan: ScanSpec, root: Path, url: str) -> float:
    """The same scan as a plain loop writing the same documents and HDF5 columns."""
    (root / "plain").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    store = open_result_store(url, files_root=root / "files")
    columns = scan.columns()
    for key in scan.chunk_keys():
        results = []
        for point in scan.chunk_points(key, columns):
            inputs = {**point, "emittance": point.get("emittance", 1e-6)}
            outputs = focus(**inputs)
            results.append(
                Result(model=spec.name, version=spec.version, inputs=inputs, outputs=outputs)
            )
        store.put_many(results)
        with h5py.File(root / "plain" / f"{key}.h5", "w") as fh:
            for group in ("inputs", "outputs"):
                rows = [getattr(r, group) for r in results]
                for name in rows[0]:
                    fh[f"{group}/{name}"] = np.asarray([row[name] for row in rows])
            fh["inputs_hash"] = np.asarray([r.inputs_hash for r in results], dtype="S64")
    elapsed = time.perf_counter() - t0
    assert store.count(spec.name) == scan.size
    return elapsed


def main() -> None:
    """Run both and print the times and their ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1_000)
    parser.add_argument("--no-batch", action="store_true", help="model without batch function")
    parser.add_argument("--results-url", help="result store URL (default SQLite in a temp dir)")
    args = parser.parse_args()
    side = int(round(math.sqrt(args.points)))
    scan = ScanSpec(
        name="grid",
        axes={
            "k": LinSpace(start=0.5, stop=5.0, num=side),
            "drift": LinSpace(start=0.5, stop=3.0, num=args.points // side),
        },
        chunk_size=args.chunk,
    )
    spec = make_focus_spec(batch=not args.no_batch)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lume_url = args.results_url or f"sqlite:///{root / 'lume.db'}"
        plain_url = args.results_url or f"sqlite:///{root / 'plain.db'}"
        if args.results_url:  # one server: keep the two runs apart by model version
            spec = spec.model_copy(update={"version": "lume"})
        t_plain = run_plain(spec.model_copy(update={"version": "plain"}), scan, root, plain_url)
        t_lume = run_lume(spec, scan, root, lume_url)
    mode = "no batch function (loop inside the step)" if args.no_batch else "batch function"
    print(f"points: {scan.size} in {len(scan.chunk_keys())} chunks of {args.chunk}; {mode}")
    print(f"plain Python loop + put_many + h5py: {t_plain:.2f} s")
    print(f"lume_assets scan (one run, SQLite instance): {t_lume:.2f} s")
    print(f"ratio lume_assets / plain: {t_lume / t_plain:.2f}")


if __name__ == "__main__":
    main()
