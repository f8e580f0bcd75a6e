"""LUME-services flow_of_flows.yaml files load as asset graphs; particles travel as files."""

from __future__ import annotations

from collections import Counter

import dagster as dg
import numpy as np
import pytest

from tests.lume.conftest import need

need("beamphysics", "lume")

from beamphysics import ParticleGroup  # noqa: E402

from lume_assets.assets.file_inputs import restore_particles  # noqa: E402
from lume_assets.assets.graph_assets import build_asset_graph, graph_job  # noqa: E402
from lume_assets.assets.graph_loader import load_graph  # noqa: E402
from lume_assets.client import LumeClient  # noqa: E402
from lume_assets.errors import GraphSpecError, StorageError  # noqa: E402
from lume_assets.models.catalogue import ModelCatalogue  # noqa: E402
from lume_assets.storage.files import sha256_file  # noqa: E402
from lume_assets.storage.particles import (  # noqa: E402
    SUMMARY_KEYS,
    particle_summary,
    particles_sha256,
)
from lume_assets.storage.result_stores import open_result_store  # noqa: E402
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
    # project_name: the asset group, the models' project, the results' store project
    assert graph.name == "injector" and graph.group == "cu_inj"
    assert {g for a in graph.assets for g in a.group_names_by_key.values()} == {"cu_inj"}
    assert {n.model.project for n in graph.graph.nodes} == {"cu_inj"}
    defs = dg.Definitions(assets=graph.assets, jobs=[graph_job(graph)], resources=resources)
    job = defs.resolve_job_def("injector_job")
    assert job.asset_layer.selected_asset_keys == {k for a in graph.assets for k in a.keys}
    run = dg.materialize(graph.assets, resources=resources, instance=instance)
    assert run.success
    assert resources["result_store"].get_store().count() == 0  # not the deployment's project
    config = resources["result_store"]
    store = open_result_store(config.url, project="cu_inj", files_root=config.files_root)
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


def test_particle_outputs_are_cache_hits_read_back_from_their_files(tmp_path, resources, instance):
    calls: Counter[str] = Counter()

    def counted(spec):  # noqa: ANN001, ANN202
        def evaluate(**inputs):  # noqa: ANN003, ANN202
            calls[spec.name] += 1
            return spec.function(**inputs)

        return spec.model_copy(update={"function": evaluate})

    catalogue = ModelCatalogue()
    for spec in (SOURCE, TRACKER, ANALYSIS):
        catalogue.register(counted(spec))
    path = tmp_path / "flow_of_flows.yaml"
    path.write_text(FLOW_OF_FLOWS)
    graph = build_asset_graph(load_graph(path, catalogue))
    assert dg.materialize(graph.assets, resources=resources, instance=instance).success
    defs = dg.Definitions(assets=graph.assets, jobs=[graph_job(graph)], resources=resources)
    with LumeClient(definitions=defs, instance=instance) as client:
        rerun = client.run_graph("injector")  # read back from the graph's project: cu_inj
    # the second run reuses every result: the models with a ParticleGroup output too
    assert calls == {"beam_source": 1, "tracker": 1, "analysis": 1}
    assert rerun["beam_source"].outputs["beam"]["particles"]["n"] == 500
    assert set(rerun) == {"beam_source", "tracker", "analysis"}
    key = graph.key("beam_source", "beam")
    found = instance.fetch_materializations(key, limit=2).records
    second, first = (r.asset_materialization.metadata for r in found)
    assert second["cache_hit"].value and not first["cache_hit"].value
    assert second["path"] == first["path"]  # the same stored file
    direct = make_beam(500, 1e-3)["beam"]
    assert second["particles/norm_emit_x"].value == direct["norm_emit_x"]
    # the cached group is read from its openPMD file, bit-exact, its sha256 checked
    config = resources["result_store"]
    store = open_result_store(config.url, project="cu_inj", files_root=config.files_root)
    record = store.find("beam_source", {})[0]
    iom = resources["particles_io_manager"]
    group = restore_particles(SOURCE, record, iom).outputs["beam"]
    for coord in ("x", "px", "y", "py", "z", "pz", "t", "status", "weight"):
        np.testing.assert_array_equal(group[coord], direct[coord])
    beam_file = record.provenance.files["beam"].host_path
    with open(beam_file, "r+b") as fh:  # a changed file is not reused: re-evaluated, rewritten
        fh.seek(-16, 2)
        fh.write(b"\0" * 16)
    with pytest.raises(StorageError, match="differs from its sha256"):
        restore_particles(SOURCE, record, iom)
    assert dg.materialize(graph.assets, resources=resources, instance=instance).success
    rewritten = store.find("beam_source", {})[0].provenance.files["beam"]
    assert calls["beam_source"] == 2 and sha256_file(beam_file) == rewritten.sha256


def test_our_graph_format_takes_a_project_the_same_way(tmp_path, catalogue):
    path = tmp_path / "graph.yaml"
    path.write_text("name: two\nproject: cu_inj\nnodes:\n  - {name: src, model: beam_source}\n")
    graph = build_asset_graph(load_graph(path, catalogue))
    assert {g for a in graph.assets for g in a.group_names_by_key.values()} == {"cu_inj"}
    assert graph.graph.node("src").model.project == "cu_inj"
    result_spec = graph.by_node["src"].specs_by_key[graph.result_key("src")]
    assert result_spec.metadata["lume/project"] == "cu_inj"
    path.write_text(path.read_text().replace("cu_inj", "cu inj"))
    with pytest.raises(GraphSpecError, match=rf"{path}:2: "):
        load_graph(path, catalogue)
