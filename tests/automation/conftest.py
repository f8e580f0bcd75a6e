"""Fixtures for automation tests: an inbox, a dynamic-partitioned target asset, file writers."""

import json
import os
from pathlib import Path

import dagster as dg
import pytest
from pydantic import BaseModel, Field

INPUT_PARTITIONS = dg.DynamicPartitionsDefinition(name="beam_inputs")


class BeamInputs(BaseModel):
    """The inputs of the test model: an energy in MeV and an optional charge."""

    energy: float = Field(gt=0, le=100)
    charge: float = 1.0


@dg.asset(partitions_def=INPUT_PARTITIONS)
def beam_eval(config: dg.PermissiveConfig) -> float:
    """Evaluate the test model on one input file's values."""
    return config.energy * config.charge


def deliver(inbox: Path, name: str, content: str | dict) -> Path:
    """Write an input file under a hidden temp name, then rename it into the inbox."""
    text = json.dumps(content) if isinstance(content, dict) else content
    inbox.mkdir(parents=True, exist_ok=True)
    tmp = inbox / f".{name}.part"
    tmp.write_text(text)
    os.replace(tmp, inbox / name)
    return inbox / name


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """An empty inbox folder."""
    path = tmp_path / "inbox"
    path.mkdir()
    return path
