"""Fixtures for automation tests: an inbox, a dynamic-partitioned target asset, file writers."""

import json
import math
import os
from pathlib import Path

import dagster as dg
import numpy as np
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


def cheap_model(x: float, y: float, gain: float = 1.0) -> dict:
    """A cheap analytic model: radius and product, scaled."""
    return {"r": gain * math.hypot(x, y), "p": gain * x * y}


def cheap_model_batch(x, y, gain):  # noqa: ANN001, ANN201 - numpy columns in and out
    """The same model on columns of points (one vectorized call)."""
    return {"r": gain * np.hypot(x, y), "p": gain * x * y}


def make_cheap_spec(batch: bool = True):  # noqa: ANN201
    """A ModelSpec of the cheap model (with or without its batch function)."""
    from lume_assets.models.model import ModelSpec
    from lume_assets.models.variables import ScalarVariable

    return ModelSpec(
        name="cheap",
        version="1.0",
        inputs=[
            ScalarVariable(name="x", value_range=(-100.0, 100.0)),
            ScalarVariable(name="y", value_range=(-100.0, 100.0)),
            ScalarVariable(name="gain", default=1.0, value_range=(0.0, 10.0)),
        ],
        outputs=[ScalarVariable(name="r"), ScalarVariable(name="p")],
        function=cheap_model,
        batch_function=cheap_model_batch if batch else None,
    )


@pytest.fixture
def scan_resources(tmp_path: Path) -> dict:
    """Real result store (SQLite), HDF5 IO manager and approvals under tmp_path."""
    from lume_assets.automation.gate import ApprovalsResource
    from lume_assets.deploy.chunk_runners import ChunkRunner
    from lume_assets.io_managers.hdf5 import HDF5IOManager
    from lume_assets.io_managers.results import ResultStoreResource

    files = tmp_path / "files"
    return {
        "result_store": ResultStoreResource(
            url=f"sqlite:///{tmp_path / 'results.db'}", files_root=str(files)
        ),
        "hdf5_io_manager": HDF5IOManager(root_dir=str(files)),
        "approvals": ApprovalsResource(url=f"sqlite:///{tmp_path / 'registry.db'}"),
        "chunk_runner": ChunkRunner(),
    }
