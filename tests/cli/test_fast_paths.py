"""Fast paths: what a command loads, and what a cache hit does not redo.

Timings are in bench/cli_bench.py; these tests check the mechanisms the figures rest on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lume_assets.client import LumeClient
from tests.dagit_server import project_env

LIST_MODELS = """
import sys
from lume_assets.cli import main
sys.argv = ["lume-assets", "models", "list", "--json"]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
"""


def loaded_modules(env: dict[str, str], code: str) -> tuple[list[str], str]:
    """Run `code` in a fresh interpreter; return (heavy modules it imported, its stdout)."""
    prelude = "import json\nHEAVY = {'dagster', 'kubernetes', 'docker', 'matplotlib', 'pandas'}\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    *out, last = done.stdout.strip().splitlines()
    return json.loads(last), "\n".join(out)


def test_models_list_uses_the_snapshot_and_imports_no_dagster(tmp_path: Path) -> None:
    (tmp_path / "lume").mkdir()
    (tmp_path / "dagster").mkdir()
    env = project_env(tmp_path / "lume", tmp_path / "dagster")
    first, out = loaded_modules(env, LIST_MODELS)  # builds the definitions once
    assert "dagster" in first
    names = [m["name"] for m in json.loads(out)]
    assert "beam_envelope" in names
    again, out_again = loaded_modules(env, LIST_MODELS)
    assert again == [], again  # no Dagster, Kubernetes, Docker, matplotlib or pandas
    assert json.loads(out_again) == json.loads(out)
    assert not (tmp_path / "dagster" / "history").exists()  # the instance was never opened
    # a new YAML graph changes what is served: the snapshot is not reused
    graphs = tmp_path / "graphs"
    graphs.mkdir()
    (graphs / "solo.yaml").write_text(
        "name: solo\nnodes:\n  - name: only\n    model: beam_envelope\n"
    )
    changed, _ = loaded_modules({**env, "LUME_GRAPHS_DIR": str(graphs)}, LIST_MODELS)
    assert "dagster" in changed


def test_definitions_import_no_kubernetes_or_workspace_machinery(tmp_path: Path) -> None:
    env = project_env(tmp_path, tmp_path)
    code = (
        "import lume_assets.demo.definitions\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(("
        "'kubernetes', 'docker', 'matplotlib', 'dagster._core.workspace.context')))))"
    )
    found, _ = loaded_modules(env, "import sys\n" + code)
    assert found == [], found


def test_cache_hit_points_at_the_stored_plot_without_rendering(module_home: Path) -> None:
    with LumeClient() as client:
        first = client.run("beam_envelope", {"k_f": 2.31})
        meta = client.backend.materialization_metadata(
            first.provenance.run_id, "beam_envelope/result"
        )
        plot = Path(str(meta["plot_path"]))
        stamp = plot.stat().st_mtime_ns
        run_id = client.submit("beam_envelope", {"k_f": 2.31})
        client.wait(run_id)
        hit = client.backend.materialization_metadata(run_id, "beam_envelope/result")
    assert hit["cache_hit"] is True and Path(str(hit["plot_path"])) == plot
    assert plot.stat().st_mtime_ns == stamp  # not rendered or written again
    assert plot.name == f"{first.inputs_hash[:16]}.png" and plot.read_bytes()[:4] == b"\x89PNG"
    # no image in the event log: a short link Dagit resolves to the same file (plot_links)
    assert hit["plot"] == meta["plot"] and len(hit["plot"]) < 200
