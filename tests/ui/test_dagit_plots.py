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
#: The plot image Dagit shows, once loaded: its size as decoded and as laid out on the page.
PLOT_IMAGE = """(() => {
  const img = [...document.images].find((i) => i.src.includes('/logs/lume_plots/'));
  if (!img || !img.complete || img.naturalWidth === 0) return null;
  img.scrollIntoView({block: 'center'});
  const box = img.getBoundingClientRect();
  const y = box.top + box.height / 2;
  const seen = (x) => document.elementFromPoint(x, y) === img;  // not covered or cut off
  return {src: img.src, natural: img.naturalWidth, width: box.width, height: box.height,
          clipped: !(seen(box.left + 2) && seen(box.right - 2)),
          dialogs: document.querySelectorAll('.bp5-dialog, [role=dialog]').length};
})()"""


@pytest.fixture(scope="module")
def dagit_ui(dagit: DagitServer) -> DagitServer:
    """The session's Dagit with its first-run dialog dismissed."""
    assert graphql(dagit.url, "mutation { setNuxSeen }")["setNuxSeen"] is True
    SHOTS.mkdir(parents=True, exist_ok=True)
    return dagit


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


def served_plot(ui: DagitServer, entries: dict[str, dict], label: str) -> bytes:
    """The PNG Dagit serves for the inline image `label`: the very file `<label>_path` names."""
    markdown = entries[label]["mdStr"]
    assert len(markdown) < 1000  # Dagit renders shorter markdown inline, longer behind a dialog
    (url,) = re.findall(r"!\[[^\]]*\]\((/logs/lume_plots/[0-9a-f]{16}/png)\)", markdown)
    served = requests.get(ui.url + url, timeout=30)
    assert served.status_code == 200 and served.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert served.content == Path(entries[f"{label}_path"]["path"]).read_bytes()
    return served.content


def test_model_plot_is_an_image_on_the_asset_page(dagit_ui: DagitServer, browser: Browser) -> None:
    config = {"ops": {"beam_envelope": {"config": {"k_f": 2.4, "k_d": -2.3}}}}
    keys = [["beam_envelope", k] for k in ("result", "s", "sigma_x", "sigma_y", "report")]
    run_id = dagit_ui.launch(keys, config)
    assert dagit_ui.finished(run_id) == "SUCCESS"
    latest, entries = latest_metadata(dagit_ui, ["beam_envelope", "result"])
    assert latest == run_id
    served_plot(dagit_ui, entries, "plot")
    browser.goto(f"{dagit_ui.url}/assets/beam_envelope/result")
    shown = browser.wait_for(PLOT_IMAGE)
    assert shown["natural"] == 600 and shown["height"] > 150 and not shown["clipped"], shown
    assert shown["dialogs"] == 0  # on the page itself: no dialog opened
    shot = browser.screenshot(SHOTS / "beam_envelope_plot.png")
    assert shot.stat().st_size > 20_000


def test_scan_overview_is_an_image_and_a_table_on_the_scan_page(
    dagit_ui: DagitServer, browser: Browser
) -> None:
    first, last = "grid-00000", "grid-00009"  # the demo's whole 10,000-point focus scan
    tags = {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }
    run_id = dagit_ui.launch([["focus", "grid"]], tags=tags)
    assert dagit_ui.finished(run_id) == "SUCCESS"
    latest, entries = latest_metadata(dagit_ui, ["focus", "grid"])
    assert latest == run_id
    served_plot(dagit_ui, entries, "overview")
    rows = {r["output"]: r for r in map(json.loads, entries["summary"]["table"]["records"])}
    assert rows["sigma"]["points"] == 10_000 and rows["sigma"]["argmin"] == "k=5, drift=0.5"
    browser.goto(f"{dagit_ui.url}/assets/focus/grid")
    shown = browser.wait_for(PLOT_IMAGE)
    assert shown["natural"] == 560 and shown["width"] > 300 and not shown["clipped"], shown
    assert shown["dialogs"] == 0
    text = browser.evaluate("document.body.innerText")
    assert "argmin" in text and "focal_length" in text  # the summary table, inline
    shot = browser.screenshot(SHOTS / "focus_grid_overview.png")
    assert shot.stat().st_size > 20_000
