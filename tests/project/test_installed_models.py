"""Models from installed packages (entry point group `lume_assets.models`) and from
`package.module:SPEC` references, through the real `lume-assets` command.

The package is a module plus its `.dist-info` on PYTHONPATH — what pip installs — so
importlib.metadata sees its entry points; nothing is installed into the test venv.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.project.helpers import dist_info, env_for, lume

WIND_MODULE = '''\
"""A wind-load model announced by an installed package."""

import lume_assets as la


def wind(speed: float, area: float) -> dict:
    """Dynamic pressure and force of air at `speed` on `area`."""
    pressure = 0.5 * 1.225 * speed**2
    return {"pressure": pressure, "force": pressure * area}


WIND = la.ModelSpec(
    name="wind_load",
    version="2.1",
    description="Wind load on a flat plate.",
    inputs=[
        la.ScalarVariable(name="speed", units="m/s", value_range=(0.0, 80.0), default=10.0),
        la.ScalarVariable(name="area", units="m^2", value_range=(0.0, 100.0), default=1.0),
    ],
    outputs=[
        la.ScalarVariable(name="pressure", units="Pa"),
        la.ScalarVariable(name="force", units="N"),
    ],
    function=wind,
)
'''


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """A folder with the `wind-models` package (module + dist-info) and fresh homes."""
    base = tmp_path_factory.mktemp("installed")
    site = base / "site"
    site.mkdir()
    (site / "wind_models.py").write_text(WIND_MODULE)
    dist_info(site, "wind-models", {"lume_assets.models": {"wind_load": "wind_models:WIND"}})
    work = base / "work"  # no project here: the demo location is served
    work.mkdir()
    return env_for(base / "lume_home", base / "dagster_home", site), work


def test_models_list_shows_every_model_with_source_units_and_outputs(
    env: tuple[dict[str, str], Path],
) -> None:
    environ, work = env
    listed = lume(environ, work, "models", "list", "--json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    models = {m["name"]: m for m in json.loads(listed.stdout)}
    assert models["wind_load"]["source"] == "entry point (wind-models)"
    assert models["beam_envelope"]["source"] == "location lume_assets"
    assert models["envelope_analysis"]["source"] == "location lume_assets"  # a graph node's model
    for name, info in models.items():  # every model is described from its spec
        assert info["outputs"], f"{name} shows no outputs"
        assert any(v["units"] for v in info["inputs"] + info["outputs"]), name
    text = lume(environ, work, "models", "list")
    assert "wind_load" in text.stdout and "entry point (wind-models)" in text.stdout


def test_models_show_for_graph_served_and_installed_models(
    env: tuple[dict[str, str], Path],
) -> None:
    environ, work = env
    graph_served = lume(environ, work, "models", "show", "envelope_analysis")
    assert graph_served.returncode == 0, graph_served.stderr[-3000:]
    assert "outputs:" in graph_served.stdout and "clearance" in graph_served.stdout
    assert "mm" in graph_served.stdout
    installed = lume(environ, work, "models", "show", "wind_load", "--json")
    info = json.loads(installed.stdout)
    speed = next(v for v in info["inputs"] if v["name"] == "speed")
    assert (speed["units"], speed["allowed"]) == ("m/s", "[0, 80] m/s")
    assert [v["name"] for v in info["outputs"]] == ["pressure", "force"]


def test_run_by_entry_point_name_and_by_reference(env: tuple[dict[str, str], Path]) -> None:
    environ, work = env
    by_name = lume(environ, work, "run", "wind_load", "-i", "speed=20", "-i", "area=2", "--json")
    assert by_name.returncode == 0, by_name.stderr[-3000:]
    outputs = json.loads(by_name.stdout)["outputs"]
    assert outputs["force"] == pytest.approx(0.5 * 1.225 * 400 * 2)
    by_ref = lume(environ, work, "run", "wind_models:WIND", "-i", "speed=30")
    assert by_ref.returncode == 0, by_ref.stderr[-3000:]
    assert "succeeded" in by_ref.stdout and "551.25" in by_ref.stdout
    bad = lume(environ, work, "run", "wind_load", "-i", "speed=90")
    assert bad.returncode == 2 and "'speed' = 90 is outside its allowed range" in bad.stderr


def test_a_reference_to_anything_but_a_modelspec_is_refused(
    env: tuple[dict[str, str], Path],
) -> None:
    environ, work = env
    for ref in ("sys:exit", "os:abort"):
        refused = lume(environ, work, "run", ref)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr.strip().splitlines() == [
            f"error: {ref!r} is a callable (builtin_function_or_method), not a ModelSpec; a "
            "model reference must name a ModelSpec object (nothing it names is called) — e.g. "
            "'my_models.models:MY_MODEL = ModelSpec(...)'."
        ]


def test_registration_happens_on_run_or_register_not_on_listing(
    env: tuple[dict[str, str], Path],
) -> None:
    environ, work = env
    home = Path(environ["LUME_HOME"])
    registered = lume(environ, work, "models", "register", "wind_load", "--json")
    assert registered.returncode == 0, registered.stderr[-3000:]
    (deployment,) = json.loads(registered.stdout)
    assert (deployment["model_name"], deployment["version"]) == ("wind_load", "2.1")
    assert deployment["import_path"] == "wind_models:wind"
    assert (home / "registry.db").is_file()
    check = textwrap.dedent(
        """
        from lume_assets.models.registry import ModelRegistry
        import sys
        names = [d.model_name for d in ModelRegistry(sys.argv[1]).list_deployments()]
        print(",".join(sorted(set(names))))
        """
    )
    import subprocess
    import sys

    names = subprocess.run(
        [sys.executable, "-c", check, f"sqlite:///{home / 'registry.db'}"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    assert "wind_load" in names.split(",")
