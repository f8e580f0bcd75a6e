"""The README's "Bring your LUME model" blocks, executed verbatim in fresh processes."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.dagit_server import ROOT, project_env
from tests.lume.conftest import need

need("lume_pyat", "lume")
need("lume_torch", "torch")


def blocks() -> list[str]:
    """The python blocks of the section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Bring your LUME model\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Fresh LUME and Dagster homes, this checkout on PYTHONPATH."""
    base = tmp_path_factory.mktemp("readme_lume")
    return project_env(base / "lume", base / "dagster")


def run(code: str, env: dict[str, str]) -> str:
    """Run one block; its stdout (fails with stderr if it fails)."""
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_one_block_per_kind() -> None:
    codes = blocks()
    assert len(codes) == 3
    assert "from_lume(" in codes[0] and "from_lume_torch(" in codes[1]
    assert "composing_flows" in codes[2] and "ParticlesVariable" in codes[2]


def test_lume_base_block(env: dict[str, str]) -> None:
    out = run(blocks()[0], env)
    assert out.startswith("lume-pyat-") and "'tune_x': 0.3" in out and "'beta_y':" in out


def test_lume_torch_block(env: dict[str, str]) -> None:
    lines = run(blocks()[1], env).splitlines()
    assert lines[0] == "m"
    assert lines[1].startswith("sha256.") and lines[1].count("'y':") == 2


def test_particles_and_flow_of_flows_block(env: dict[str, str]) -> None:
    out = run(blocks()[2], env)
    assert out.startswith("1000 {'sigma_x': 0.00")
