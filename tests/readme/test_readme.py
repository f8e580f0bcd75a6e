"""The README's "Use it" blocks, executed verbatim: Python API, CLI and Dagit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dagit_server import DEV_ARGS, ROOT, DagitServer, graphql, project_env

README = ROOT / "README.md"


def use_it_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block in the README's "Use it" section, in order."""
    text = README.read_text()
    section = text.split("\n## Use it\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def block(language: str, index: int) -> str:
    """The index-th block of a language in the section."""
    return [code for lang, code in use_it_blocks() if lang == language][index]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Fresh homes, this checkout first on PYTHONPATH, the venv's scripts first on PATH."""
    base = tmp_path_factory.mktemp("readme")
    env = project_env(base / "lume", base / "dagster")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a README snippet and fail with its stderr if it fails."""
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args[:2]}\n{done.stdout}\n{done.stderr}"
    return done


def test_the_section_has_the_three_ways_in() -> None:
    langs = [lang for lang, _ in use_it_blocks()]
    assert langs == ["python", "bash", "bash", "python"]
    text = README.read_text()
    assert text.startswith(
        "# lume_assets\n\n```bash\nbash scripts/setup && .venv/bin/lume-assets demo\n"
        "bash scripts/test\n```\n"
    )


def test_python_api_and_cli_blocks(env: dict[str, str]) -> None:
    api = run([sys.executable, "-c", block("python", 0)], env)
    first = api.stdout.splitlines()[0].split()
    assert (
        0 < float(first[0]) < 20
        and "/beam_envelope/sigma_x/" in first[1]
        and first[1].endswith(".h5")
    )
    assert "outputs.max_sigma" in api.stdout
    cli = run(["bash", "-euo", "pipefail", "-c", block("bash", 0)], env)
    assert "beam_envelope v1.0.0" in cli.stdout and "succeeded" in cli.stdout
    assert "2 result(s)" in cli.stdout  # the API's k_f=2.2 run and the CLI's k_f=2.3 run
    assert "succeeded: 2 partition(s) 2.00...2.10 of envelope_scan in 1 run(s)" in cli.stdout


def test_dagit_blocks(dagit: DagitServer) -> None:
    # The session's Dagit was started with exactly the README's command.
    assert block("bash", 1).split() == ["lume-assets", *DEV_ARGS]
    assert dagit.proc.args[1:] == DEV_ARGS
    env = {**os.environ, "LUME_REMOTE_URL": dagit.url, "PYTHONPATH": str(ROOT)}
    remote = run([sys.executable, "-c", block("python", 1)], env)
    assert remote.stdout.startswith("SUCCESS ") and "beam_envelope/result" in remote.stdout


def own_model_block() -> list[str]:
    """The command lines of the README's "Add your own model" block."""
    section = README.read_text().split("\n## Add your own model\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return code.strip().splitlines()


def test_add_your_own_model_block(tmp_path: Path) -> None:
    """From `lume-assets init` to a run, a query and Dagit in five commands, run verbatim."""
    lines = own_model_block()
    assert sum(len(line.split("&&")) for line in lines) <= 5
    assert lines[0].startswith("lume-assets init my_models")
    env = project_env(tmp_path / "lume", tmp_path / "dagster")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    *commands, dagit_line = lines
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(commands)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded: graph bounces, 2 node(s)" in done.stdout
    assert "2 result(s)" in done.stdout  # the throw at 25 m/s and the bounce at 15 m/s
    # the last line serves the project in Dagit: started exactly so, in the project folder
    assert dagit_line.split() == ["lume-assets", *DEV_ARGS]
    server = DagitServer.start(tmp_path / "my_models")
    try:
        data = graphql(
            server.url,
            "{ assetNodes { assetKey { path } } "
            "workspaceOrError { ... on Workspace { locationEntries { name } } } }",
        )
    finally:
        server.stop()
    keys = {"/".join(n["assetKey"]["path"]) for n in data["assetNodes"]}
    assert "bounces/throw/projectile/throw_result" in keys
    assert [e["name"] for e in data["workspaceOrError"]["locationEntries"]] == ["my_models"]
