"""Bad input to the installed `lume-assets`: one line on stderr, exit 2, no traceback, no run.

Every case runs the real entry point as a subprocess on a fresh LUME_HOME / DAGSTER_HOME; the
Dagster instance is then opened to check that refused input created no run.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.dagit_server import lume_assets_exe, project_env, runs_in

HUGE = "9" * 400

FAILING_MODEL = """
from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import ScalarVariable


def explode(k: float) -> dict:
    raise RuntimeError(f"lattice unstable at k={k}")


FAIL = ModelSpec(
    name="exploding",
    version="1",
    project="explode",
    inputs=[ScalarVariable(name="k", default=1.0, value_range=(0.0, 5.0))],
    outputs=[ScalarVariable(name="y")],
    function=explode,
)
"""

FAILING_GRAPH = """
name: explode
nodes:
  - name: boom
    model: failing_model:FAIL
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh project home, with one stored result and a graph whose model always fails."""
    base = tmp_path_factory.mktemp("errors")
    for sub in ("lume", "dagster", "graphs", "code"):
        (base / sub).mkdir()
    (base / "code" / "failing_model.py").write_text(textwrap.dedent(FAILING_MODEL))
    (base / "graphs" / "explode.yaml").write_text(FAILING_GRAPH)
    env = project_env(base / "lume", base / "dagster")
    env["PYTHONPATH"] = f"{base / 'code'}:{env['PYTHONPATH']}"
    env["LUME_GRAPHS_DIR"] = str(base / "graphs")
    ran = lume(env, "run", "beam_envelope", "-i", "k_f=2.2")
    assert ran.returncode == 0, ran.stderr
    return env


def lume(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run `lume-assets ARGS` and return the finished process."""
    return subprocess.run(
        [lume_assets_exe(), *args], env=env, capture_output=True, text=True, timeout=300
    )


def refused(done: subprocess.CompletedProcess, *expected: str) -> str:
    """Assert exit 2 and one `error:` line on stderr holding `expected`; return the line."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "Error: " not in lines[0][7:20]
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("k_f=abc", "input 'k_f' = 'abc' is not a number (got str)"),
        ("k_f=null", "input 'k_f' is null"),
        ("k_f=true", "input 'k_f' = True is not a number (got bool)"),
        (f"k_f={HUGE}", "is too large for a float"),
        ("k_f=NaN", "input 'k_f' = nan is not finite"),
        ("k_f=-1", "input 'k_f' = -1 is outside its allowed range [0, 10] 1/m^2"),
        ("kf=2", "unknown input(s) 'kf' of model 'beam_envelope'; did you mean 'k_f'?"),
        ("k_f", "'k_f' is not NAME=VALUE"),
    ],
)
def test_bad_run_input_is_one_line_and_creates_no_run(
    env: dict[str, str], value: str, expected: str
) -> None:
    before = runs_in(env)
    refused(lume(env, "run", "beam_envelope", "-i", value), expected)
    assert runs_in(env) == before


def test_unknown_names_get_did_you_mean(env: dict[str, str]) -> None:
    refused(lume(env, "run", "beam_envelop"), "No model 'beam_envelop'", "'beam_envelope'?")
    refused(lume(env, "results", "beam_envelop"), "No model 'beam_envelop'", "'beam_envelope'?")
    refused(
        lume(env, "results", "beam_envelope", "--where", "inputs.k_ff<0"),
        "has no input 'k_ff'; did you mean 'k_f'?",
    )
    refused(lume(env, "results", "--sort", "outputs.max_sigmaa"), "did you mean 'max_sigma'?")
    refused(lume(env, "results", "--where", "nonsense>1"), "is not queryable")


def test_results_refuse_values_they_cannot_compare(env: dict[str, str]) -> None:
    refused(lume(env, "results", "--where", f"inputs.k_f>{HUGE}"), "too large to compare")
    refused(lume(env, "results", "--limit", HUGE), "--limit", "not in the range")
    refused(lume(env, "results", "--where", "created>yesterday"), "is not a date")
    refused(lume(env, "approve", f"#{HUGE}"))
    # bytes that are not UTF-8 arrive as lone surrogates: refused, never a UnicodeEncodeError
    refused(lume(env, "results", "--where", "inputs.k_f>\udcff"), "argument 3", "not valid UTF-8")
    refused(lume(env, "status", "\udcff"), "argument 2 '\\udcff' is not valid UTF-8")
    missing = Path(env["LUME_HOME"]) / "no" / "such" / "x.db"
    refused(lume(env, "results", "--results-url", f"sqlite:///{missing}"), "No result store at")
    assert not missing.parent.exists()  # a read-only command created nothing


def test_results_dates_help_example_and_empty_match(env: dict[str, str]) -> None:
    since = lume(env, "results", "beam_envelope", "--where", "created>2020-01-01")
    assert since.returncode == 0 and "1 result(s)" in since.stdout, since.stderr
    later = lume(env, "results", "beam_envelope", "--where", "created>2999-01-01")
    assert later.returncode == 0 and "no results" in later.stdout and "0 rows" in later.stdout
    helped = lume(env, "results", "--help").stdout
    example = "version in 1.0.0,1.1.0"
    assert example in " ".join(helped.split())
    assert "1 result(s)" in lume(env, "results", "beam_envelope", "--where", example).stdout


def test_failing_step_prints_our_message_only(env: dict[str, str]) -> None:
    failed = lume(env, "run", "exploding", "-i", "k=3")
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr and 'File "' not in failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("run failed: ") and "lattice unstable at k=3" in last
    assert "RuntimeError: RuntimeError" not in last
    debug = lume(env, "--debug", "run", "exploding", "-i", "k=3", "--force")
    assert debug.returncode == 1 and "Traceback" in debug.stderr or 'File "' in debug.stderr


def test_plot_writes_a_png_and_refuses_unknown_paths(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "k.png"
    args = ("plot", "beam_envelope", "--x", "inputs.k_f", "--y", "outputs.max_sigma")
    drawn = lume(env, *args, "--out", str(out))
    assert drawn.returncode == 0 and "1 points" in drawn.stdout, drawn.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"
    refused(lume(env, *args[:-1], "outputs.max_sigmx"), "did you mean 'max_sigma'?")
    refused(lume(env, *args, "--where", "inputs.k_f>5"), "nothing to plot")
