"""What a plot costs in Dagster's event log, per run, for each way of showing it in Dagit; and
what a scan overview costs in memory.

1. The beam_envelope plot, materialized twice (a miss, then a cache hit) on a local instance:
   bytes of the stored result event, and bytes the plot entries add to it, against two
   alternatives rendered from the same figure — the whole PNG inline (a data-URI markdown image,
   the old behaviour) and the largest data-URI thumbnail that still renders inline (Dagit
   renders markdown under 1,000 characters in place, longer behind "[Show Markdown]").
2. ScanOverview over a million-point line and a 1000 x 1000 grid fed in 100,000-point chunks:
   the peak of Python allocations (tracemalloc) beside the size of the points themselves.

    PYTHONPATH=. .venv/bin/python bench/plot_bench.py
"""

from __future__ import annotations

import base64
import io
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

import dagster as dg
import numpy as np
from dagster._serdes import serialize_value

INLINE_LIMIT = 1000  # characters: Dagit's inline markdown limit (metadata/MetadataEntry.tsx)


def data_uri_markdown(png: bytes) -> str:
    """A markdown image of `png` as a data URI."""
    return f"![plot](data:image/png;base64,{base64.b64encode(png).decode()})"


def thumbnail(png: bytes, width_px: int) -> bytes:
    """`png` scaled to `width_px` wide and quantized to 8 colours (about the smallest PNG)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    height = round(image.height * width_px / image.width)
    small = image.resize((width_px, height), Image.LANCZOS).quantize(colors=8)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def model_plot() -> None:
    """Section 1: event-log bytes per run of each way to show the model's plot."""
    import os

    from lume_assets.demo import assets as demo

    home = Path(tempfile.mkdtemp())
    os.environ["LUME_HOME"] = str(home)
    from lume_assets.serving import build_resources

    config = {"ops": {"beam_envelope": {"config": {"k_f": 2.45, "k_d": -2.35}}}}
    key = dg.AssetKey(["beam_envelope", "result"])
    rows = []
    with dg.instance_for_test() as instance:
        for label in ("miss", "hit"):
            started = time.perf_counter()
            run = dg.materialize(
                [demo.beam_envelope],
                resources=build_resources(),
                instance=instance,
                run_config=config,
            )
            seconds = time.perf_counter() - started
            [record] = instance.fetch_materializations(key, limit=1).records
            assert record.run_id == run.run_id
            meta = record.asset_materialization.metadata
            plot_entries = len(json.dumps([meta["plot"].value, meta["plot_path"].value]))
            rows.append(
                (label, len(serialize_value(record.event_log_entry)), plot_entries, seconds)
            )
        plot_file = Path(meta["plot_path"].value)
        full = plot_file.read_bytes()
        links = sorted((Path(instance.root_directory) / "storage" / "lume_plots").iterdir())
    print("## model plot (beam_envelope/result), bytes in the event log per run")
    print("| run | result event bytes | plot entries bytes | seconds |")
    print("|---|---|---|---|")
    for label, event, entries, seconds in rows:
        print(f"| {label} | {event} | {entries} | {seconds:.2f} |")
    print(f"plot file {len(full)} bytes; images served by Dagit after both runs: {len(links)}")
    inline = data_uri_markdown(full)
    best = None
    for width in range(300, 40, -10):
        thumb = data_uri_markdown(thumbnail(full, width))
        if len(thumb) < INLINE_LIMIT:
            best = (width, len(thumb))
            break
    print("| way to show it | chars per event | inline (0 clicks)? |")
    print("|---|---|---|")
    print(f"| whole PNG as data-URI markdown | {len(inline)} | no: [Show Markdown] dialog |")
    if best:
        print(
            f"| data-URI thumbnail, {best[0]} px wide, 8 colours | {best[1]} | yes, a thumbnail "
            "(stored again by every run, hits included) |"
        )
    print(f"| preview + link served by Dagit (chosen) | {rows[-1][2]} | yes; 1 click: full size |")


def overview_memory() -> None:
    """Section 2: peak allocations of a scan overview vs the size of its points."""
    from lume_assets.assets.scan_overview import ScanOverview
    from lume_assets.demo.focus_model import FOCUS, focus_batch

    print("## scan overview memory (1,000,000 points in chunks of 100,000)")
    print("| scan | points (MB, inputs+outputs) | overview peak (MB) | add (s) | png (s) |")
    print("|---|---|---|---|---|")
    cases = {
        "line k": ({"k": np.linspace(0.5, 5, 1_000_000)}, False),
        "grid k x drift": (
            {"k": np.linspace(0.5, 5, 1000), "drift": np.linspace(0.5, 3, 1000)},
            True,
        ),
    }
    for name, (axes, grid) in cases.items():
        if grid:
            mesh = np.meshgrid(*axes.values(), indexing="ij")
            columns = {n: m.ravel() for n, m in zip(axes, mesh, strict=True)}
        else:
            columns = dict(axes)
        n = len(next(iter(columns.values())))
        drift = columns.get("drift", np.full(n, 2.0))
        tracemalloc.start()
        overview = ScanOverview(FOCUS, axes, grid=grid, plot_output="sigma")
        started = time.perf_counter()
        for start in range(0, n, 100_000):
            part = {k: v[start : start + 100_000] for k, v in columns.items()}
            d = drift[start : start + 100_000]
            outputs = focus_batch(part["k"], d, np.full(len(d), 1e-6))
            overview.add(part, outputs)
            del outputs
        added = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        started = time.perf_counter()
        overview.png(name)
        drawn = time.perf_counter() - started
        points_mb = n * 8 * (len(columns) + 2) / 1e6
        print(f"| {name} | {points_mb:.0f} | {peak / 1e6:.1f} | {added:.2f} | {drawn:.2f} |")


if __name__ == "__main__":
    model_plot()
    overview_memory()
