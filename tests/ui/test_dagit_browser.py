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
import yaml

from lume_assets.demo.beam_model import BEAM_ENVELOPE
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

LAUNCHED = """query R($id: ID!) { runOrError(runId: $id) { ... on Run {
  jobName runConfigYaml eventConnection { events { __typename } } } } }"""
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


def _location(ui: DagitServer) -> str:
    """The name of the code location serving the beam_chain graph."""
    nodes = graphql(ui.url, NODES)["assetNodes"]
    return next(
        n["repository"]["location"]["name"] for n in nodes if n["groupName"] == "beam_chain"
    )


def test_graph_lineage_cards_name_the_nodes(ui: DagitServer, tmp_path: Path) -> None:
    """A YAML graph's lineage: each card reads `<node>_<output>`, not `result` for every node."""
    page = f"{ui.url}/locations/{_location(ui)}/asset-groups/beam_chain"
    cards = ["|sim_result|Latest event|", "|analysis_result|Latest event|"]
    text = rendered(page, cards)
    for card in [*cards, "|sim_sigma_x|Latest event|", "|analysis_report|Latest event|"]:
        assert card in text, card
    assert "|result|Latest event|" not in text  # no card is a bare `result` any more
    shot = tmp_path / "graph_lineage_beam_chain.png"
    browse(page, "--window-size=1400,1800", f"--screenshot={shot}")  # the whole graph
    assert shot.stat().st_size > 20_000
    shutil.copy(shot, SHOTS / shot.name)


def test_launchpad_shows_the_inputs_first_in_declared_order_with_units(
    ui: DagitServer, tmp_path: Path
) -> None:
    """The asset's launchpad: the model's block comes before the storage resources, and its
    help lists the inputs in declared order with units and ranges (Dagster sorts the YAML)."""
    from tests.ui.cdp import Browser  # it imports this module's chromium flags

    browser = Browser(tmp_path / "chromium")
    try:
        browser.goto(f"{ui.url}/assets/beam_envelope/result")
        browser.wait_for("document.body.innerText.includes('Materialize')", 120)
        # the caret beside "Materialize" opens its menu (once the page is live): "Open
        # launchpad", then confirm the multi-asset's siblings
        browser.wait_for(
            "(() => { const m = [...document.querySelectorAll('*')].filter("
            "x => x.innerText && x.innerText.trim() === 'Open launchpad');"
            " if (m.length) { m.pop().click(); return true; }"
            " const b = [...document.querySelectorAll('button')];"
            " const i = b.findIndex(x => x.innerText.trim() === 'Materialize');"
            " if (i >= 0 && b[i + 1]) b[i + 1].click(); return false; })()",
            120,
        )
        yaml_text = browser.wait_for(
            "(() => { const e = document.querySelector('.CodeMirror');"
            " const v = e && e.CodeMirror.getValue();"
            " if (v && v.includes('resources:')) return v;"
            " const c = [...document.querySelectorAll('button')].find("
            "x => x.innerText.trim() === 'Confirm'); if (c) c.click(); return false; })()",
            120,
        )
        # inputs first: the model's block, then the storage settings under resources
        assert yaml_text.index("beam_envelope:") < yaml_text.index("k_f:")
        assert yaml_text.index("k_f:") < yaml_text.index("resources:")
        assert yaml_text.index("resources:") < yaml_text.index("result_store:")
        assert "url" not in yaml_text[: yaml_text.index("resources:")]
        # the help of the model's block: every input in declared order, units and ranges
        browser.evaluate(
            "(() => { const cm = document.querySelector('.CodeMirror').CodeMirror;"
            " cm.focus(); cm.setCursor({line: 1, ch: 6}); })()"
        )
        help_text = browser.wait_for(
            "(() => { const t = [...document.querySelectorAll('[role=dialog]')]"
            ".map(d => d.innerText).join(' '); return t.includes('in declared order') && t; })()"
        )
        help_text = " ".join(help_text.split())
        summary = help_text[help_text.index("Inputs of model beam_envelope") :]
        names = [var.name for var in BEAM_ENVELOPE.inputs]
        found = re.findall(r"(?:declared order: | \| )(\w+)", summary)
        assert found[: len(names)] == names
        assert "k_f [1/m^2]: focusing quad strength; allowed: [0, 10] 1/m^2" in summary
        assert "emittance_x [m rad]: geometric emittance, x" in summary
        assert "is set under resources:, apart from the inputs" in summary
        shot = browser.screenshot(tmp_path / "launchpad_beam_envelope.png")
    finally:
        browser.close()
    assert shot.stat().st_size > 20_000
    shutil.copy(shot, SHOTS / shot.name)


def test_asset_page_links_a_launchpad_in_declared_order_with_units(
    ui: DagitServer, tmp_path: Path
) -> None:
    """The model asset's page links the asset job's launchpad opened on the model's inputs in
    declared order, each with units and allowed range, `force` apart after them and storage
    left to resources; launching from it materializes the model."""
    from tests.ui.cdp import Browser  # it imports this module's chromium flags

    browser = Browser(tmp_path / "chromium")
    try:
        browser.goto(f"{ui.url}/assets/beam_envelope/result")
        link = browser.wait_for(
            "(() => { const a = [...document.querySelectorAll('a')].find("
            "x => x.innerText.includes('inputs in declared order')); return a && a.href; })()",
            120,
        )
        page = browser.screenshot(tmp_path / "asset_page_launchpad_link.png")
        shutil.copy(page, SHOTS / page.name)
        browser.goto(link)  # what a click on the link does (a full page load)
        yaml_text = browser.wait_for(
            "(() => { const e = document.querySelector('.CodeMirror');"
            " const v = e && e.CodeMirror.getValue(); return v && v.includes('force:') && v; })()",
            120,
        )
        lines = yaml_text.splitlines()
        keys = [ln.split(":")[0].strip() for ln in lines if re.match(r"^ {6}\w+:", ln)]
        names = [var.name for var in BEAM_ENVELOPE.inputs]
        assert keys == [*names, "force"]  # inputs first, in declared order; then the option
        row = next(ln for ln in lines if ln.strip().startswith("k_f:"))
        assert "# [1/m^2] focusing quad strength; allowed: [0, 10] 1/m^2" in row
        row = next(ln for ln in lines if ln.strip().startswith("emittance_x:"))
        assert "[m rad]" in row and "allowed: [1e-12, 0.001] m rad" in row
        force = lines.index(next(ln for ln in lines if ln.strip().startswith("force:")))
        assert lines[force - 1].strip() == "# run setting, not a model input:"
        assert "url" not in yaml_text and "resources:, apart from" in yaml_text
        shot = browser.screenshot(tmp_path / "launchpad_declared_order.png")
        assert shot.stat().st_size > 20_000
        shutil.copy(shot, SHOTS / shot.name)
        # the text launches as it is (PyYAML reads it back) and runs only the model's assets
        browser.wait_for(
            "(() => { const b = [...document.querySelectorAll('button')].find("
            "x => x.innerText.trim() === 'Launch Run'); if (b && !b.disabled) b.click();"
            " return location.pathname.includes('/runs/') && location.pathname; })()",
            120,
        )
        run_id = browser.evaluate("location.pathname.split('/runs/')[1].split('/')[0]")
        assert ui.finished(run_id) == "SUCCESS"
        run = graphql(ui.url, LAUNCHED, {"id": run_id})["runOrError"]
        assert run["jobName"] == "beam_envelope_launchpad"
        launched = yaml.safe_load(run["runConfigYaml"])["ops"]["beam_envelope"]["config"]
        assert launched["k_f"] == 2.0 and launched["emittance_x"] == 1e-6  # a float, read back
        events = [e["__typename"] for e in run["eventConnection"]["events"]]
        assert "AssetCheckEvaluationEvent" in events  # the output-range check ran too
    finally:
        browser.close()
