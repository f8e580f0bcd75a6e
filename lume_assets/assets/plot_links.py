"""Plots visible on Dagit's asset page while they stay files.

A plot is a PNG among the result's files (`plot_path`). To show it on the asset page, the
materialization also carries one short markdown line, `plot`: a preview image linking to the
full plot, `[![model](/logs/lume_plots/<sha256[:16]>-w360/png)](/logs/lume_plots/<sha256[:16]>/
png)`. Why this form — from Dagster 1.13's UI source (`metadata/MetadataEntry.tsx`,
`ui/MarkdownWithPlugins.tsx`), `bench/plot_bench.py` (bench/RESULTS.md; the demo's 600 x 320 px,
39.7 kB beam_envelope plot) and chromium on the asset page (tests/ui/test_dagit_plots.py):

| way to show it                        | chars per event  | on the asset page              |
|---------------------------------------|------------------|--------------------------------|
| whole PNG, data-URI markdown (before) | 52,955           | "[Show Markdown]": a dialog    |
| data-URI thumbnail under 1,000 chars  | 835 (50 px wide) | inline, but unreadable         |
| `MetadataValue.path` / `.url`         | ~100             | text / a link to a new tab     |
| preview + link served by Dagit (here) | ~200 (with path) | inline, 0 clicks; 1 for full   |

- Dagit renders a markdown entry in place only under 1,000 characters; longer ones sit behind
  "[Show Markdown]" (the issue's complaint). Paths, URLs and tables render as text, links and
  tables, never as an image. Its sanitizer allows `data:` images, but a PNG that fits in 1,000
  characters of base64 is a 50-pixel-wide smudge, and every run — cache hits included — would
  store it again.
- A link costs ~90 characters and a cache hit stores the same line again and no image. The only
  image server we already run is Dagit itself: its `/logs/<key...>/<ext>` route serves files of
  the instance's local compute-log folder (`LocalComputeLogManager.get_captured_local_path`, the
  route behind "download logs"). The plot is hard-linked there once (copied across
  filesystems), named by its sha256, so a re-run finds it and adds nothing.
- Markdown images show at their natural size, and in a 1,400-pixel window the metadata table's
  value column on the asset page has ~370 visible pixels (label and timestamp columns take the
  rest): a 600-pixel plot is cut off at the pane's edge. So Dagit shows a `PREVIEW_WIDTH`-wide
  copy (made once, with Pillow, matplotlib's own dependency), and a click on it fetches the
  full-size file (the route sends it as a download).

The links are relative to Dagit's root (a webserver started with `--path-prefix` needs the
prefix) and work only where Dagit shares the instance's compute-log folder (local `dagster
dev`, a shared volume); elsewhere — or with a non-local compute-log manager, where no `plot`
entry is written — `plot_path` still names the file. `lume-assets gc` does not see these copies.
"""

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from lume_assets.storage.files import FileRecord
from lume_assets.storage.filesystems import LocalFilesystem

__all__ = ["PLOTS_NAMESPACE", "PREVIEW_WIDTH", "plot_metadata", "served_plot_urls"]

PLOTS_NAMESPACE = "lume_plots"  # the compute-log folder holding plots Dagit serves
#: Widest image that fits, unscrolled, in the value column of the asset page's metadata table
#: in a 1,400-pixel-wide window (tests/ui/test_dagit_plots.py checks it in chromium).
PREVIEW_WIDTH = 360


def png_width(path: Path) -> int:
    """The width of a PNG file, from its header."""
    with path.open("rb") as fh:
        head = fh.read(24)
    return int.from_bytes(head[16:20], "big") if head[12:16] == b"IHDR" else 0


def _place(target: Path, write: Callable[[Path], None]) -> None:
    """Create `target` atomically with `write(staging path)`, unless it exists."""
    if target.is_file():
        return
    with LocalFilesystem(target.parent).atomic_path(target.name) as staged:
        write(staged)


def _link(source: Path) -> Callable[[Path], None]:
    """Write a hard link to `source` (a copy across filesystems)."""

    def write(staged: Path) -> None:
        staged.unlink()  # the staging file is created empty; the link takes its name
        try:
            os.link(source, staged)
        except OSError:
            shutil.copyfile(source, staged)

    return write


def _shrunk(source: Path, width: int) -> Callable[[Path], None]:
    """Write `source` scaled down to `width` pixels wide."""

    def write(staged: Path) -> None:
        from PIL import Image  # matplotlib's own dependency; imported only to make a preview

        with Image.open(source) as image:
            height = max(1, round(image.height * width / image.width))
            image.resize((width, height), Image.Resampling.LANCZOS).save(staged, format="PNG")

    return write


def served_plot_urls(
    instance: dg.DagsterInstance, record: FileRecord, local: Path
) -> tuple[str, str] | None:
    """Dagit's URL paths of (a preview at most `PREVIEW_WIDTH` wide, the full plot `local`),
    placed in the compute-log folder once; None when the compute logs are not local files."""
    # imported here: it pulls in watchdog, which the definitions do not need
    from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

    manager = instance.compute_log_manager
    if not isinstance(manager, LocalComputeLogManager) or not record.sha256:
        return None

    def served(name: str, write: Callable[[Path], None]) -> str:
        _place(Path(manager.get_captured_local_path([PLOTS_NAMESPACE, name], "png")), write)
        return f"/logs/{PLOTS_NAMESPACE}/{name}/png"

    name = record.sha256[:16]
    full = served(name, _link(local))
    if png_width(local) <= PREVIEW_WIDTH:
        return full, full
    return served(f"{name}-w{PREVIEW_WIDTH}", _shrunk(local, PREVIEW_WIDTH)), full


def plot_metadata(
    instance: dg.DagsterInstance, record: FileRecord, local: Path, title: str, label: str = "plot"
) -> dict[str, dg.MetadataValue]:
    """`<label>_path` (the file) and, when Dagit can serve it, `<label>`: an inline preview
    linking to the full-size image."""
    meta: dict[str, dg.MetadataValue] = {f"{label}_path": dg.MetadataValue.path(record.host_path)}
    urls = served_plot_urls(instance, record, local)
    if urls is not None:
        preview, full = urls
        meta[label] = dg.MetadataValue.md(f"[![{title}]({preview})]({full})")
    return meta
