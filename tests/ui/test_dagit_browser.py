"""Dagit in a real headless browser (Debian chromium): the asset graph and a materialization.

`scripts/setup --dev` installs chromium; the webserver is the session's `lume-assets dev`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.dagit_server import DagitServer, graphql

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--virtual-time-budget=15000",
]
#: Screenshots at a laptop's size; DOM dumps on a tall page, so the graph (which draws only
#: the nodes in view) draws every node of a group.
SCREEN, TALL = "--window-size=1400,1000", "--window-size=1400,4000"
#: Where the screenshots go (kept after the run, to look at).
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"

NODES = """{ assetNodes { assetKey { path } groupName repository { location { name } } } }"""


def chromium() -> str:
    """The chromium binary (installed by `bash scripts/setup --dev`)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail(
            "chromium is missing: run `bash scripts/setup --dev` (apt-get install chromium)"
        )
    return exe


def browse(url: str, *args: str) -> str:
    """Load `url` headless with extra chromium args; return stdout (the DOM for --dump-dom)."""
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, *args, url], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def visible_text(dom: str) -> str:
    """The text of a DOM dump, cells separated by '|'."""
    dom = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\|[\s|]*", "|", re.sub(r"<[^>]+>", "|", dom))


def rendered(url: str, expected: list[str], seconds: float = 300) -> str:
    """The page's text once it shows every `expected` piece (the UI loads data after paint).

    Loads again until the pieces show or `seconds` pass: a loaded server answers slowly.
    """
    deadline = time.monotonic() + seconds
    text = visible_text(browse(url, TALL, "--dump-dom"))
    while not all(piece in text for piece in expected) and time.monotonic() < deadline:
        time.sleep(1)
        text = visible_text(browse(url, TALL, "--dump-dom"))
    return text


@pytest.fixture(scope="module")
def ui(dagit: DagitServer) -> DagitServer:
    """The session's Dagit with its first-run dialog dismissed."""
    assert graphql(dagit.url, "mutation { setNuxSeen }")["setNuxSeen"] is True
    SHOTS.mkdir(parents=True, exist_ok=True)
    return dagit


def test_asset_graph_lists_the_demo_assets(ui: DagitServer) -> None:
    nodes = graphql(ui.url, NODES)["assetNodes"]
    groups: dict[tuple[str, str], list[str]] = {}
    for node in nodes:
        where = (node["repository"]["location"]["name"], node["groupName"])
        groups.setdefault(where, []).append(node["assetKey"]["path"][-1])
    assert {g for _, g in groups} >= {"demo"}
    lineage = rendered(f"{ui.url}/asset-groups", [f"|{g}|" for _, g in groups])
    assert "Global asset lineage" in lineage  # every group appears in the global graph
    for _, group in groups:
        assert f"|{group}|" in lineage, group
    for (location, group), assets in groups.items():
        page = f"{ui.url}/locations/{location}/asset-groups/{group}"
        text = rendered(page, [f"|{a}|" for a in assets])
        for asset in assets:  # the group's asset graph draws a node per asset
            assert f"|{asset}|Latest event|" in text, (group, asset)
        assert "Welcome to Dagster" not in text  # the first-run dialog is gone
        if group == "demo":  # kind badges: where each model output lives
            for kind in ("|SQLite|", "|hdf5|", "|NumPy|", "|text|"):
                assert kind in text, kind
    assert {"result", "sigma_x", "report", "envelope_scan", "envelope_surrogate"} <= {
        a for assets in groups.values() for a in assets
    }
    shot = SHOTS / "asset_graph_demo.png"
    shot.unlink(missing_ok=True)
    location = next(loc for loc, g in groups if g == "demo")
    browse(f"{ui.url}/locations/{location}/asset-groups/demo", SCREEN, f"--screenshot={shot}")
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_materialization_launched_from_graphql_shows_up(ui: DagitServer) -> None:
    keys = [["beam_envelope", k] for k in ("result", "s", "sigma_x", "sigma_y", "report")]
    config = {"ops": {"beam_envelope": {"config": {"k_f": 2.45, "k_d": -2.35}}}}
    run_id = ui.launch(keys, config)
    status = ui.finished(run_id)
    assert status == "SUCCESS"
    page = f"{ui.url}/assets/beam_envelope/result?view=events"
    text = rendered(page, [f"Materialized in run |{run_id[:8]}|"])
    assert f"Materialized in run |{run_id[:8]}|" in text
    assert "|k_f|scalar|2.45|1/m^2|[0, 10] 1/m^2|" in text  # the inputs table
    assert "|max_sigma|scalar|" in text and "|plot_path|" in text  # outputs table, plot file
    shot = SHOTS / "beam_envelope_result.png"
    browse(page, SCREEN, f"--screenshot={shot}")
    assert shot.stat().st_size > 20_000
