"""A lume-torch TorchModel (trained here) loaded through the graph `model:` form and scanned."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import yaml

from tests.lume.conftest import need

need("lume_torch", "torch")

import torch  # noqa: E402
from botorch.models.transforms.input import AffineInputTransform  # noqa: E402

from lume_assets.assets.graph_assets import build_asset_graph  # noqa: E402
from lume_assets.assets.graph_loader import load_graph  # noqa: E402
from lume_assets.assets.scan_asset import scan_asset  # noqa: E402
from lume_assets.assets.scan_grid import LinSpace, ScanSpec  # noqa: E402
from lume_assets.errors import GraphSpecError  # noqa: E402
from lume_assets.models.lume_variables import load_variables  # noqa: E402
from lume_assets.models.model import ModelSpec  # noqa: E402
from tests.lume.torch_fixture import train_torch_model  # noqa: E402

GRAPH = """\
name: surrogates
nodes:
  - name: surrogate
    model: {lume_torch: model/surrogate.yml}
    inputs: {x2: 1.5}
"""
SCAN = ScanSpec(
    name="grid",
    axes={"x1": LinSpace(start=0.0, stop=3.0, num=20), "x2": LinSpace(start=0.5, stop=2.0, num=5)},
    chunk_size=50,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """The trained model and the graph file beside its model folder."""
    root = tmp_path_factory.mktemp("torch")
    model, _ = train_torch_model(root / "model")
    graph = root / "graph.yaml"
    graph.write_text(GRAPH)
    return model, graph


def test_model_yaml_loads_with_every_field(trained):
    _, graph = trained
    inputs, outputs = load_variables(graph.parent / "model" / "surrogate.yml")
    x1, x2 = inputs
    assert (x1.name, x1.default, x1.value_range, x1.units, x1.read_only) == (
        "x1",
        1.0,
        (0.0, 3.0),
        "rad",
        False,
    )
    assert (x2.units, x2.value_range) == ("m", (0.0, 2.0))
    assert [(v.name, v.kind, v.units) for v in outputs] == [("y", "scalar", "m")]


def test_input_transformers_apply_and_their_files_are_in_the_version(trained, tmp_path):
    model, graph = trained
    folder = tmp_path / "model"
    shutil.copytree(graph.parent / "model", folder)
    doc = yaml.safe_load((folder / "surrogate.yml").read_text())
    assert doc["model_class"] == "TorchModel" and len(doc["input_transformers"]) == 1
    spec = ModelSpec.from_lume_torch(folder / "surrogate.yml")
    point = {k: torch.tensor([v], dtype=torch.double) for k, v in (("x1", 0.3), ("x2", 1.2))}
    direct = model.evaluate(point)
    assert spec.evaluate({"x1": 0.3, "x2": 1.2})["y"] == direct["y"].item()
    # a changed transformer file (same model weights) is a new version
    shifted = AffineInputTransform(
        d=2,
        coefficient=torch.tensor([3.0, 2.0], dtype=torch.double),
        offset=torch.full((2,), 0.1, dtype=torch.double),
    )
    torch.save(shifted, folder / doc["input_transformers"][0])
    assert ModelSpec.from_lume_torch(folder / "surrogate.yml").version != spec.version


def test_graph_model_form_scans_batched_and_equals_model_evaluate(trained, resources, instance):
    model, graph_file = trained
    graph = load_graph(graph_file)
    spec = graph.node("surrogate").model
    assert spec.batch_function is not None and spec.version.startswith("sha256.")
    assert spec.input_map["x2"].default == 1.5  # the node's fixed input
    calls = []
    batch = spec.batch_function
    spec = spec.model_copy(update={"batch_function": lambda **c: calls.append(1) or batch(**c)})
    asset = scan_asset(spec, SCAN)
    keys = SCAN.chunk_keys()
    tags = {
        "dagster/asset_partition_range_start": keys[0],
        "dagster/asset_partition_range_end": keys[-1],
    }
    assert dg.materialize([asset], resources=resources, instance=instance, tags=tags).success
    assert len(calls) == len(keys) == 2  # one tensor evaluation per chunk
    stored = resources["result_store"].get_store().find("surrogate", {})
    assert len(stored) == SCAN.size
    columns = SCAN.columns()
    for chunk in keys:
        start, stop = SCAN.chunk_bounds(chunk)
        got = (
            model.evaluate(
                {k: torch.tensor(columns[k][start:stop], dtype=torch.double) for k in ("x1", "x2")}
            )["y"]
            .detach()
            .numpy()
            .reshape(-1)
        )
        by_inputs = {(r.inputs["x1"], r.inputs["x2"]): r.outputs["y"] for r in stored}
        mine = [
            by_inputs[(a, b)]
            for a, b in zip(columns["x1"][start:stop], columns["x2"][start:stop], strict=True)
        ]
        np.testing.assert_array_equal(np.asarray(mine), got)


def test_changed_pt_file_is_a_new_version_and_a_cache_miss(trained, tmp_path, resources, instance):
    _, graph_file = trained
    folder = tmp_path / "g"
    shutil.copytree(graph_file.parent, folder)
    config = {"ops": {"surrogates__surrogate__surrogate": {"config": {"x1": 0.7}}}}

    def run() -> tuple[str, bool]:
        assets = build_asset_graph(load_graph(folder / "graph.yaml"))
        result = dg.materialize(
            assets.assets, resources=resources, instance=instance, run_config=config
        )
        assert result.success
        mat = result.asset_materializations_for_node("surrogates__surrogate__surrogate")[0]
        return assets.graph.node("surrogate").model.version, mat.metadata["cache_hit"].value

    first, hit1 = run()
    again, hit2 = run()
    assert (first, hit1, hit2) == (again, False, True)
    # retrain into the same files: only the .pt weights change
    train_torch_model(folder / "model", steps=5, seed=1)
    changed, hit3 = run()
    assert changed != first and hit3 is False


def test_lume_torch_path_may_not_leave_the_graph_folder(trained, tmp_path):
    graph = tmp_path / "graph.yaml"
    graph.write_text(GRAPH.replace("model/surrogate.yml", "../outside.yml"))
    with pytest.raises(GraphSpecError, match=r"graph.yaml:4: .*leaves the graph's folder"):
        load_graph(graph)
