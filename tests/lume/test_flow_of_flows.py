"""LUME-services flow_of_flows.yaml files load as asset graphs; particles travel as files."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pytest

from tests.lume.conftest import need

need("beamphysics", "lume")

from beamphysics import ParticleGroup  # noqa: E402

from lume_assets.assets.graph_assets import build_asset_graph  # noqa: E402
from lume_assets.assets.graph_loader import load_graph  # noqa: E402
from lume_assets.errors import GraphSpecError  # noqa: E402
from lume_assets.models.catalogue import ModelCatalogue  # noqa: E402
from lume_assets.storage.files import sha256_file  # noqa: E402
from lume_assets.storage.particles import (  # noqa: E402
    SUMMARY_KEYS,
    particle_summary,
    particles_sha256,
)
from tests.lume.fof_models import ANALYSIS, SOURCE, TRACKER, make_beam  # noqa: E402

FLOW_OF_FLOWS = """\
name: injector
project_name: cu_inj
labels: [lume-services]
composing_flows:
  - name: beam_source
    project_name: cu_inj
  - name: tracker
    project_name: cu_inj
    mapped_parameters:
      particle_file:
        parent_flow_name: beam_source
        parent_task_name: beam
        map_type: file
  - name: analysis
    mapped_parameters:
      emit:
        parent_flow_name: tracker
        parent_task_name: store_results
        map_type: db
        attribute: outputs
        attribute_index: [norm_emit_x]
      beam:
        parent_flow_name: tracker
        parent_task_name: beam_out
        map_type: raw
      log:
        parent_flow_name: beam_source
        parent_task_name: report
        map_type: file
"""


@pytest.fixture
def catalogue() -> ModelCatalogue:
    """A catalogue with the three registered models."""
    cat = ModelCatalogue()
    for spec in (SOURCE, TRACKER, ANALYSIS):
        cat.register(spec)
    return cat


def test_three_flows_materialize_with_file_db_and_raw_mappings(
    tmp_path, catalogue, resources, instance
):
    path = tmp_path / "flow_of_flows.yaml"
    path.write_text(FLOW_OF_FLOWS)
    graph = build_asset_graph(load_graph(path, catalogue))
    assert graph.name == "injector" and "cu_inj" in graph.graph.spec.description
    run = dg.materialize(graph.assets, resources=resources, instance=instance)
    assert run.success
    store = resources["result_store"].get_store()
    source = store.find("beam_source", {})[0]
    tracker = store.find("tracker", {})[0]
    analysis = store.find("analysis", {})[0]
    # the ParticleGroup is an openPMD file, every coordinate bit-exact
    beam_file = source.provenance.files["beam"].host_path
    direct = make_beam(500, 1e-3)["beam"]
    loaded = ParticleGroup(h5=beam_file)
    for key in ("x", "px", "y", "py", "z", "pz", "t", "status", "weight"):
        np.testing.assert_array_equal(loaded[key], direct[key])
    assert loaded.species == "electron"
    # ... its summary is in the result record and in Dagit's metadata
    record = source.outputs["beam"]["particles"]
    assert record == {"sha256": particles_sha256(direct), **particle_summary(direct)}
    assert set(SUMMARY_KEYS) < set(record) and record["n"] == 500
    mats = run.asset_materializations_for_node("injector__beam_source__beam_source")
    beam_meta = next(m for m in mats if m.asset_key == graph.key("beam_source", "beam")).metadata
    assert beam_meta["particles/n"].value == 500
    assert beam_meta["particles/norm_emit_x"].value == pytest.approx(direct["norm_emit_x"])
    # map_type file: the tracker got the managed file's path, its sha256 in provenance
    assert tracker.inputs["particle_file"] == beam_file
    assert tracker.provenance.input_files["particle_file"] == {
        "path": beam_file,
        "sha256": sha256_file(beam_file),
    }
    report = source.provenance.files["report"].host_path
    assert analysis.provenance.input_files["log"]["sha256"] == sha256_file(report)
    # map_type db with attribute_index: the tracker's stored output; raw: the ParticleGroup
    drifted = ParticleGroup(h5=beam_file)
    drifted.drift(0.5)
    assert analysis.inputs["emit"] == tracker.outputs["norm_emit_x"] == drifted["norm_emit_x"]
    with open(report, encoding="utf-8") as fh:
        written = fh.read()
    assert "made 500 electrons" in written
    assert analysis.outputs["n"] == 500 and analysis.outputs["log_lines"] == written.count("\n")
    assert analysis.outputs["emit_ratio"] == pytest.approx(
        drifted["norm_emit_x"] / drifted["norm_emit_y"]
    )


def test_flow_of_flows_as_a_dict_of_flows_loads_too(tmp_path, catalogue):
    text = """\
name: two
composing_flows:
  beam_source: {}
  tracker:
    mapped_parameters:
      particle_file: {parent_flow_name: beam_source, parent_task_name: beam, map_type: file}
"""
    path = tmp_path / "fof.yaml"
    path.write_text(text)
    graph = load_graph(path, catalogue)
    assert [n.name for n in graph.nodes] == ["beam_source", "tracker"]


def test_broken_flow_of_flows_gives_file_line_errors(tmp_path, catalogue):
    broken = FLOW_OF_FLOWS.replace("labels: [lume-services]", "lables: [lume-services]").replace(
        "map_type: raw", "map_type: raw\n        colour: red"
    )
    path = tmp_path / "flow_of_flows.yaml"
    path.write_text(broken)
    with pytest.raises(GraphSpecError) as err:
        load_graph(path, catalogue)
    text = str(err.value)
    assert f"{path}:3: unknown key 'lables'" in text and "did you mean 'labels'" in text
    assert f"{path}:26: " in text and "unknown key 'colour'" in text
    # a flow naming no registered model (and an unknown upstream output): located too
    wrong = (
        FLOW_OF_FLOWS.replace("- name: tracker", "- name: trackr")
        .replace(
            "parent_flow_name: tracker\n        parent_task_name: beam_out",
            "parent_flow_name: trackr\n        parent_task_name: beam_out",
        )
        .replace("parent_task_name: report", "parent_task_name: n_missing")
    )
    path.write_text(wrong)
    with pytest.raises(GraphSpecError) as err:
        load_graph(path, catalogue)
    text = str(err.value)
    assert f"{path}:7: node 'trackr'" in text and "not in the model catalogue" in text
