"""Plots visible on Dagit's asset page while they stay files.

A plot is a PNG among the result's files (`plot_path`). To show it on the asset page, the
materialization also carries a one-line markdown image, `plot`: `![model](/logs/lume_plots/
<sha256[:16]>/png)`. Why this form (Dagster 1.13 UI source, `metadata/MetadataEntry.tsx`,
`ui/MarkdownWithPlugins.tsx`; figures from `bench/plot_metadata_bench.py`, in bench/RESULTS.md):

- The asset page's Metadata section and the Events tab render a markdown entry inline only when
  it is shorter than 1,000 characters; longer ones sit behind "[Show Markdown]" (a dialog, the
  issue's complaint). Paths, URLs and tables render as text, links and tables: no image.
- A data-URI image is allowed by the UI's sanitizer, but under 1,000 characters it is a ~700-byte
  thumbnail, copied into the event log by every materialization, cache hits included; the full
  plot inline is 20-40 kB per run (the old behaviour).
- A URL is ~90 characters: inline, zero clicks, the full-size plot, and a cache hit stores the
  same short line again and no image. The only image server we already run is Dagit itself:
  its `/logs/<key...>/<ext>` route serves files of the instance's local compute-log folder
  (`LocalComputeLogManager.get_captured_local_path`, the route behind "download logs"). The
  plot is hard-linked there once (copied across filesystems), named by its sha256, so
  re-linking is a no-op and a cache hit adds nothing.

The link is relative to Dagit's root (a webserver started with `--path-prefix` needs the prefix)
and shows only where Dagit shares the instance's compute-log folder (local `dagster dev`, a
shared volume); elsewhere — or with a non-local compute-log manager, where no `plot` entry is
written — `plot_path` still names the file.
"""

import os
import shutil
from pathlib import Path

import dagster as dg

from lume_assets.storage.files import FileRecord

__all__ = ["PLOTS_NAMESPACE", "plot_metadata", "served_plot_url"]

PLOTS_NAMESPACE = "lume_plots"  # the compute-log folder holding plots Dagit serves


def served_plot_url(instance: dg.DagsterInstance, record: FileRecord, local: Path) -> str | None:
    """Dagit's URL path of the plot file `local`, linked into the compute-log folder once; None
    when the instance's compute logs are not local files."""
    # imported here: it pulls in watchdog, which the definitions do not need
    from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

    manager = instance.compute_log_manager
    if not isinstance(manager, LocalComputeLogManager) or not record.sha256:
        return None
    name = record.sha256[:16]
    target = Path(manager.get_captured_local_path([PLOTS_NAMESPACE, name], "png"))
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{name}.{os.getpid()}.tmp")
        staged.unlink(missing_ok=True)
        try:
            os.link(local, staged)
        except OSError:  # another filesystem, or no hard links: a copy
            shutil.copyfile(local, staged)
        os.replace(staged, target)
    return f"/logs/{PLOTS_NAMESPACE}/{name}/png"


def plot_metadata(
    instance: dg.DagsterInstance, record: FileRecord, local: Path, title: str, label: str = "plot"
) -> dict[str, dg.MetadataValue]:
    """`<label>_path` (the file) and, when Dagit can serve it, `<label>` (an inline image)."""
    meta: dict[str, dg.MetadataValue] = {f"{label}_path": dg.MetadataValue.path(record.host_path)}
    url = served_plot_url(instance, record, local)
    if url is not None:
        meta[label] = dg.MetadataValue.md(f"![{title}]({url})")
    return meta
