"""LUME models scanned through lume_assets vs the plain LUME library in a loop, same process.

lume_assets: `scan_asset` over the model, materialized as ONE run (single-run backfill) on a
SQLite Dagster instance with the real result store and HDF5 IO manager (as bench/scan_bench.py).

Plain: the same chunks through the LUME library itself — lume-torch: `model.evaluate` on one
tensor per chunk; lume-pyat: `reset()`, `set()`, `get()` per point — then the same `Result`
documents written with the same store's put_many and the same columns with h5py.

    PYTHONPATH=$PWD .venv/bin/python bench/lume_bench.py torch [--points 10000] [--chunk 1000]
    PYTHONPATH=$PWD .venv/bin/python bench/lume_bench.py pyat [--points 200] [--chunk 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from scan_bench import run_lume

from lume_assets.assets.scan_grid import LinSpace, ScanSpec
from lume_assets.models.model import ModelSpec
from lume_assets.storage.result_stores import open_result_store
from lume_assets.storage.results import Result

Chunk = Callable[[dict[str, np.ndarray]], list[dict[str, Any]]]


def run_plain(spec: ModelSpec, scan: ScanSpec, root: Path, url: str, chunk_fn: Chunk) -> float:
    """The scan as a plain loop over chunks: the library call, same documents and HDF5 files."""
    (root / "plain").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    store = open_result_store(url, files_root=root / "files")
    columns = scan.columns()
    for key in scan.chunk_keys():
        start, stop = scan.chunk_bounds(key)
        cols = {name: col[start:stop] for name, col in columns.items()}
        cols.update({k: np.full(stop - start, float(v)) for k, v in scan.fixed.items()})
        outputs = chunk_fn(cols)
        results = [
            Result(
                model=spec.name,
                version=spec.version,
                inputs={k: float(v[i]) for k, v in cols.items()},
                outputs=out,
            )
            for i, out in enumerate(outputs)
        ]
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


def torch_case(root: Path, points: int, chunk: int) -> tuple[ModelSpec, ScanSpec, Chunk]:
    """A 4-input surrogate MLP (3 x 128 hidden) saved as lume-torch YAML + .pt, loaded back."""
    import torch
    from lume_torch.models import TorchModel
    from lume_torch.variables import TorchScalarVariable

    torch.manual_seed(0)
    names = ["sol", "phase", "charge", "quad"]
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 128),
        torch.nn.Tanh(),
        torch.nn.Linear(128, 128),
        torch.nn.Tanh(),
        torch.nn.Linear(128, 128),
        torch.nn.Tanh(),
        torch.nn.Linear(128, 2),
    ).double()
    model = TorchModel(
        model=net,
        input_variables=[
            TorchScalarVariable(name=n, default_value=0.5, value_range=(0.0, 1.0)) for n in names
        ],
        output_variables=[TorchScalarVariable(name="emit_x"), TorchScalarVariable(name="sigma_x")],
    )
    model.dump(str(root / "surrogate.yml"), save_models=True)
    spec = ModelSpec.from_lume_torch(root / "surrogate.yml")
    side = round(points**0.25)
    axes = {n: LinSpace(start=0.0, stop=1.0, num=side) for n in names}
    scan = ScanSpec(name="grid", axes=axes, chunk_size=chunk)

    def plain(cols: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        with torch.no_grad():
            got = model.evaluate(
                {k: torch.as_tensor(v, dtype=torch.double) for k, v in cols.items()}
            )
        arrays = {k: v.detach().numpy().reshape(-1) for k, v in got.items()}
        return [{k: float(a[i]) for k, a in arrays.items()} for i in range(len(cols["sol"]))]

    return spec, scan, plain


def pyat_case(root: Path, points: int, chunk: int) -> tuple[ModelSpec, ScanSpec, Chunk]:
    """The ESRF-EBS cell (lume-pyat): a QF1A strength scan, tunes and betas out."""
    from lume_assets.demo.pyat_ring import OPTICS, pyat_ring_model

    spec = ModelSpec.from_lume(factory=pyat_ring_model, name="ebs_cell")
    axes = {"QF1A_k": LinSpace(start=2.45, stop=2.62, num=points)}
    qd2 = spec.input_map["QD2A_k"].default
    scan = ScanSpec(name="qf1", axes=axes, fixed={"QD2A_k": qd2}, chunk_size=chunk)
    model = pyat_ring_model()

    def plain(cols: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        out = []
        for k, d in zip(cols["QF1A_k"], cols["QD2A_k"], strict=True):
            model.reset()
            model.set({"QF1A_k": float(k), "QD2A_k": float(d)})
            out.append(model.get(list(OPTICS)))
        return out

    return spec, scan, plain


def main() -> None:
    """Run both sides for one kind and print the times and their ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["torch", "pyat"])
    parser.add_argument("--points", type=int)
    parser.add_argument("--chunk", type=int)
    args = parser.parse_args()
    points = args.points or (10_000 if args.kind == "torch" else 200)
    chunk = args.chunk or (1_000 if args.kind == "torch" else 50)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        case = torch_case if args.kind == "torch" else pyat_case
        spec, scan, plain = case(root, points, chunk)
        t_plain = run_plain(
            spec.model_copy(update={"version": "plain"}),
            scan,
            root,
            f"sqlite:///{root / 'plain.db'}",
            plain,
        )
        t_lume = run_lume(spec, scan, root, f"sqlite:///{root / 'lume.db'}")
    print(f"{args.kind}: {scan.size} points in {len(scan.chunk_keys())} chunks of {chunk}")
    print(f"plain LUME loop + put_many + h5py: {t_plain:.2f} s")
    print(f"lume_assets scan (one run, SQLite instance): {t_lume:.2f} s")
    print(f"ratio lume_assets / plain: {t_lume / t_plain:.2f}")


if __name__ == "__main__":
    main()
