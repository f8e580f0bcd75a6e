"""Plots on Dagit's asset pages in a real browser: a model's plot and a scan's overview are
images on the page itself (no dialog), loaded from the files the metadata names.

Uses the session's `lume-assets dev` (tests/conftest.py) and one chromium driven over the
DevTools protocol (tests/ui/cdp.py), which can ask the page whether an image really loaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from lume_assets.assets.plot_links import PREVIEW_WIDTH
from tests.dagit_server import DagitServer, graphql
from tests.ui.cdp import Browser
from tests.ui.test_dagit_browser import SHOTS

LATEST = """
query Latest($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        metadataEntries {
          label
          ... on MarkdownMetadataEntry { mdStr }
          ... on PathMetadataEntry { path }
          ... on TableMetadataEntry { table { records } }
        }
      }
    }
  }
}
"""
#: The plot image Dagit shows, once loaded, scrolled (vertically only) to the middle of its
#: scroll pane: its size as decoded and as laid out, whether both its edges are really on screen
#: (not cut off by the pane), and whether its row's label cell is on screen too.
PLOT_IMAGE = """(() => {
  const img = [...document.images].find((i) => i.src.includes('/logs/lume_plots/'));
  if (!img || !img.complete || img.naturalWidth === 0) return null;
  let pane = img.parentElement;
  while (pane && !(pane.scrollHeight > pane.clientHeight + 1 &&
                   ['auto', 'scroll'].includes(getComputedStyle(pane).overflowY))) {
    pane = pane.parentElement;
  }
  if (pane) {
    const top = pane.getBoundingClientRect().top;
    pane.scrollTop += img.getBoundingClientRect().top - top - 80;
  }
  const box = img.getBoundingClientRect();
  const y = box.top + box.height / 2;
  const seen = (el, x) => el.contains(document.elementFromPoint(x, y));
  const label = img.closest('tr').cells[0];
  const labelBox = label.getBoundingClientRect();
  return {src: img.src, natural: img.naturalWidth, width: box.width, height: box.height,
          clipped: !(seen(img, box.left + 2) && seen(img, box.right - 2)),
          label: seen(label, labelBox.left + 4) ? label.innerText : null,
          link: img.closest('a') && img.closest('a').getAttribute('href'),
          dialogs: document.querySelectorAll('.bp5-dialog, [role=dialog]').length};
})()"""


@pytest.fixture(scope="module")
def dagit_ui(dagit: DagitServer) -> DagitServer:
    """The session's Dagit with its first-run dialog dismissed."""
    assert graphql(dagit.url, "mutation { setNuxSeen }")["setNuxSeen"] is True
    SHOTS.mkdir(parents=True, exist_ok=True)
    return dagit


@pytest.fixture(scope="module")
def runs(dagit_ui: DagitServer) -> dict[str, str]:
    """Both runs this module looks at, launched at once (they overlap): a beam_envelope result
    and the demo's whole 10,000-point focus scan (one run over its 10 chunks)."""
    config = {"ops": {"beam_envelope": {"config": {"k_f": 2.4, "k_d": -2.3}}}}
    keys = [["beam_envelope", k] for k in ("result", "s", "sigma_x", "sigma_y", "report")]
    tags = {
        "dagster/asset_partition_range_start": "grid-00000",
        "dagster/asset_partition_range_end": "grid-00009",
    }
    return {
        "model": dagit_ui.launch(keys, config),
        "scan": dagit_ui.launch([["focus", "grid"]], tags=tags),
    }


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One headless chromium for this module's pages."""
    page = Browser(tmp_path_factory.mktemp("chromium"))
    try:
        yield page
    finally:
        page.close()


def latest_metadata(ui: DagitServer, path: list[str]) -> tuple[str, dict[str, dict]]:
    """(run id, metadata entries by label) of the asset's latest materialization."""
    found = graphql(ui.url, LATEST, {"key": {"path": path}})["assetOrError"]
    (event,) = found["assetMaterializations"]
    return event["runId"], {e["label"]: e for e in event["metadataEntries"]}


def served_plot(ui: DagitServer, entries: dict[str, dict], label: str) -> tuple[str, str]:
    """(preview, full) URL paths of the inline image `label`, checked as Dagit serves them: the
    full image is the very file `<label>_path` names, the preview a narrower PNG of it."""
    markdown = entries[label]["mdStr"]
    assert len(markdown) < 1000  # Dagit renders shorter markdown inline, longer behind a dialog
    url = r"(/logs/lume_plots/[0-9a-f]{16}(?:-w\d+)?/png)"
    ((preview, full),) = re.findall(rf"\[!\[[^\]]*\]\({url}\)\]\({url}\)", markdown)
    got = {u: requests.get(ui.url + u, timeout=120) for u in (preview, full)}
    assert all(r.status_code == 200 for r in got.values())
    assert got[full].content == Path(entries[f"{label}_path"]["path"]).read_bytes()
    assert got[preview].content[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(got[preview].content[16:20], "big") == PREVIEW_WIDTH
    return preview, full


def test_model_plot_is_an_image_on_the_asset_page(
    dagit_ui: DagitServer, runs: dict[str, str], browser: Browser
) -> None:
    run_id = runs["model"]
    assert dagit_ui.finished(run_id) == "SUCCESS"
    latest, entries = latest_metadata(dagit_ui, ["beam_envelope", "result"])
    assert latest == run_id
    preview, full = served_plot(dagit_ui, entries, "plot")
    browser.goto(f"{dagit_ui.url}/assets/beam_envelope/result")
    shown = browser.wait_for(PLOT_IMAGE)
    # the preview, whole and unscrolled beside its label, linking to the full-size plot
    assert shown["src"].endswith(preview) and shown["link"] == full, shown
    assert shown["natural"] == PREVIEW_WIDTH and not shown["clipped"], shown
    assert shown["label"] == "plot" and shown["height"] > 150, shown
    assert shown["dialogs"] == 0  # on the page itself: no dialog opened
    shot = browser.screenshot(SHOTS / "beam_envelope_plot.png")
    assert shot.stat().st_size > 20_000


def test_scan_overview_is_an_image_and_a_table_on_the_scan_page(
    dagit_ui: DagitServer, runs: dict[str, str], browser: Browser
) -> None:
    run_id = runs["scan"]
    assert dagit_ui.finished(run_id) == "SUCCESS"
    latest, entries = latest_metadata(dagit_ui, ["focus", "grid"])
    assert latest == run_id
    preview, full = served_plot(dagit_ui, entries, "overview")
    rows = {r["output"]: r for r in map(json.loads, entries["summary"]["table"]["records"])}
    assert rows["sigma"]["points"] == 10_000 and rows["sigma"]["argmin"] == "k=5, drift=0.5"
    browser.goto(f"{dagit_ui.url}/assets/focus/grid")
    shown = browser.wait_for(PLOT_IMAGE)
    assert shown["src"].endswith(preview) and shown["link"] == full, shown
    assert shown["natural"] == PREVIEW_WIDTH and not shown["clipped"], shown
    assert shown["label"] == "overview" and shown["height"] > 200, shown
    assert shown["dialogs"] == 0
    text = browser.evaluate("document.body.innerText")
    assert "argmin" in text and "focal_length" in text  # the summary table, inline
    shot = browser.screenshot(SHOTS / "focus_grid_overview.png")
    assert shot.stat().st_size > 20_000
