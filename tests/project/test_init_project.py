"""`lume-assets init`: a new project is a Dagster `dg` project that serves, runs and queries.

One project is written per module into a temp dir and put on the path as if installed (its
`.dist-info` beside `src/`, so its `lume_assets.models` entry point is seen); every command runs
as a real subprocess in the project folder, like a user would.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import lume_assets as la
from lume_assets.settings import get_settings
from tests.project.helpers import dg_cli, dist_info, env_for, lume


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A `lume-assets init labmodels` project and the environment that sees it."""
    base = tmp_path_factory.mktemp("init")
    env = env_for(base / "lume_home", base / "dagster_home")
    made = lume(env, base, "init", "labmodels")
    assert made.returncode == 0, made.stderr
    root = base / "labmodels"
    entry_points = tomllib_entry_points(root / "pyproject.toml")
    dist_info(root / "src", "labmodels", entry_points)  # what `pip install -e` would announce
    yield root, env_for(base / "lume_home", base / "dagster_home", root / "src")


def tomllib_entry_points(pyproject: Path) -> dict[str, dict[str, str]]:
    """The entry points a project's pyproject.toml declares."""
    import tomllib

    return tomllib.loads(pyproject.read_text())["project"]["entry-points"]


def test_init_writes_a_dg_project(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    for path in (
        "pyproject.toml",
        "README.md",
        "src/labmodels/definitions.py",
        "src/labmodels/models.py",
        "src/labmodels/defs/bounces/defs.yaml",
        "tests/test_project.py",
    ):
        assert (root / path).is_file(), path
    graph = yaml.safe_load((root / "src/labmodels/defs/bounces/defs.yaml").read_text())
    assert graph["type"] == "lume_assets.ModelGraph"
    assert "@dg.definitions" in (root / "src/labmodels/definitions.py").read_text()
    again = lume(env, root.parent, "init", "labmodels")
    assert again.returncode == 2 and "is not empty" in again.stderr
    bad = lume(env, root.parent, "init", "9lives")
    assert bad.returncode == 2 and "does not make a Python package name" in bad.stderr


def test_dg_lists_checks_and_knows_the_component(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    listed = dg_cli(env, root, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    defs = json.loads(listed.stdout)
    keys = {a["asset_key"] for a in defs["assets"]}
    assert {"bounces/throw/projectile/throw_result", "bounces/bounce/projectile/bounce_x"} <= keys
    assert [j["name"] for j in defs["jobs"]] == ["bounces_job"]
    assert {"result_store", "hdf5_io_manager", "registry"} <= {r["name"] for r in defs["resources"]}
    checked = dg_cli(env, root, "check", "defs")
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    components = dg_cli(env, root, "list", "components", "--json")
    assert "lume_assets.ModelGraph" in [c["key"] for c in json.loads(components.stdout)["items"]]


def test_a_broken_defs_yaml_fails_dg_check_with_file_and_line(
    project: tuple[Path, dict[str, str]],
) -> None:
    root, env = project
    graph = root / "src/labmodels/defs/bounces/defs.yaml"
    good = graph.read_text()
    graph.write_text(good.replace("speed: throw.impact_speed", "speed: throw.impact_sped"))
    try:
        checked = dg_cli(env, root, "check", "defs")
    finally:
        graph.write_text(good)
    assert checked.returncode != 0
    output = checked.stdout + checked.stderr
    assert f"{graph}:15: node 'bounce': map 'speed'" in output
    assert "has no output 'impact_sped'; did you mean 'impact_speed'?" in output


def test_run_graph_then_query_with_the_client(
    project: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, env = project
    ran = lume(env, root, "run-graph", "bounces", "--input", "throw.speed=25", "--json")
    assert ran.returncode == 0, ran.stderr[-3000:]
    nodes = json.loads(ran.stdout)["nodes"]
    assert list(nodes) == ["bounce", "throw"] or set(nodes) == {"bounce", "throw"}
    assert nodes["throw"]["inputs"]["speed"] == 25.0
    assert nodes["bounce"]["inputs"]["speed"] == pytest.approx(15.0)  # throw's impact speed
    assert nodes["throw"]["outputs"]["distance"] == pytest.approx(25.0**2 / 9.81)
    # the same store, read back through the Python API
    monkeypatch.setenv("LUME_HOME", env["LUME_HOME"])
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    get_settings.cache_clear()
    client = la.LumeClient()
    try:
        found = client.results("projectile", {"inputs.speed": {"$gte": 15.0}})
        assert sorted(r.inputs["speed"] for r in found) == pytest.approx([15.0, 25.0])
        record = found[0].provenance.files["x"]  # the trajectory's HDF5 file, with its sha256
        x_file = Path(record.host_path)
        assert x_file.suffix == ".h5"
        assert hashlib.sha256(x_file.read_bytes()).hexdigest() == record.sha256
    finally:
        client.close()
        get_settings.cache_clear()
    status = lume(env, root, "status", json.loads(ran.stdout)["run_id"])
    assert status.returncode == 0 and "SUCCESS" in status.stdout
    assert "materialized bounces/bounce/projectile/bounce_result" in status.stdout


def test_client_run_graph_in_the_project_folder(
    project: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, env = project
    monkeypatch.setenv("LUME_HOME", env["LUME_HOME"])
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    monkeypatch.chdir(root)  # the client serves this folder's code location
    monkeypatch.syspath_prepend(str(root / "src"))
    get_settings.cache_clear()
    client = la.LumeClient()
    try:
        results = client.run_graph("bounces", {"throw": {"speed": 10.0, "restitution": 0.5}})
        assert results["throw"].outputs["impact_speed"] == pytest.approx(5.0)
        assert results["bounce"].inputs["speed"] == pytest.approx(5.0)
        with pytest.raises(la.ModelInputError, match="graph 'bounces' has no node 'thrw'"):
            client.run_graph("bounces", {"thrw.speed": 1.0})
        with pytest.raises(la.ModelInputError, match="'speed' = 500"):
            client.run_graph("bounces", {"throw.speed": 500.0})
        with pytest.raises(la.ClientError, match="No graph 'nope'.*graphs: bounces"):
            client.run_graph("nope")
    finally:
        client.close()
        get_settings.cache_clear()


def test_cli_run_models_results_and_dev_in_the_project(
    project: tuple[Path, dict[str, str]],
) -> None:
    root, env = project
    ran = lume(env, root, "run", "projectile", "--input", "speed=12", "--json")
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert json.loads(ran.stdout)["outputs"]["peak_height"] == pytest.approx(12.0**2 / 4 / 9.81)
    listed = json.loads(lume(env, root, "models", "list", "--json").stdout)
    by_name = {m["name"]: m for m in listed}
    assert by_name["projectile"]["source"] == "location labmodels"
    shown = lume(env, root, "models", "show", "projectile")
    assert "[0, 100] m/s" in shown.stdout and "impact_speed" in shown.stdout
    results = lume(env, root, "results", "projectile", "--where", "inputs.speed==12")
    assert results.returncode == 0 and "1 result(s)" in results.stdout
    dev = lume(env, root, "dev", "--dry-run")
    assert dev.returncode == 0, dev.stderr
    assert "code location labmodels: labmodels.definitions" in dev.stdout
    workspace = Path(env["DAGSTER_HOME"]) / "workspace-labmodels.yaml"
    (entry,) = yaml.safe_load(workspace.read_text())["load_from"]
    assert entry["python_module"]["location_name"] == "labmodels"


def test_the_projects_own_tests_pass(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
