"""model_asset: config from inputs, validation before the model runs, routed outputs, the result
cache, provenance and the output-range check — materialized with the real IO managers."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import dagster as dg
import h5py
import numpy as np
import pytest

from lume_assets.assets.model_assets import (
    RANGE_CHECK,
    FromOutput,
    model_asset,
    model_output_key,
    model_result_key,
    output_binding,
)
from lume_assets.errors import ModelError
from lume_assets.models.model import ModelSpec, RetrySpec
from lume_assets.models.registry import ModelRegistry
from lume_assets.models.variables import ArrayVariable, ScalarVariable, TextVariable


class Counter:
    """A model function that counts its calls."""

    def __init__(self, scale: float = 2.0) -> None:
        self.calls = 0
        self.scale = scale

    def __call__(self, x: float, n: float) -> dict[str, Any]:
        self.calls += 1
        return {
            "y": self.scale * x,
            "curve": np.linspace(0.0, x, int(n)),
            "log": f"evaluated x={x} n={n}\n",
        }


def make_spec(fn: Any, version: str = "1", **extra: Any) -> ModelSpec:
    return ModelSpec(
        name="toy",
        version=version,
        description="a toy model",
        inputs=[
            ScalarVariable(name="x", default=1.5, value_range=(0, 10), units="m"),
            ScalarVariable(name="n", default=5, value_range=(2, 100)),
        ],
        outputs=[
            ScalarVariable(name="y", value_range=(0, 15), units="m"),
            ArrayVariable(name="curve", shape=(None,), units="m"),
            TextVariable(name="log"),
        ],
        function=fn,
        owners=["ada@lume.example"],
        **extra,
    )


def run_config(**values: Any) -> dict[str, Any]:
    return {"ops": {"toy": {"config": values}}}


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


def test_outputs_are_routed_to_store_hdf5_and_text(resources, instance, store) -> None:
    fn = Counter()
    spec = make_spec(fn)
    asset = model_asset(spec)
    result = dg.materialize([asset], resources=resources, instance=instance)
    assert result.success and fn.calls == 1
    meta = materializations(result)
    assert set(meta) == {"toy/result", "toy/curve", "toy/log"}

    # result store: the Result with inputs, outputs and provenance linked to the deployment
    stored = store.find("toy")
    assert len(stored) == 1
    rec = stored[0]
    assert rec.inputs == {"x": 1.5, "n": 5.0}
    assert rec.outputs["y"] == 3.0
    assert rec.inputs_hash == meta["toy/result"]["inputs_hash"].value
    deployment = ModelRegistry(resources["registry"].url).get_deployment("toy", "1")
    assert rec.provenance.deployment_id == deployment.id
    assert rec.provenance.code_sha == deployment.source_sha256
    assert rec.provenance.run_id == result.run_id

    # HDF5 with plain h5py, text as a plain file, both where provenance says
    h5_path = Path(str(meta["toy/curve"]["path"].value))
    assert rec.provenance.files["curve"].host_path == str(h5_path)
    assert h5_path.name == f"{rec.inputs_hash[:16]}.h5"  # content-addressed
    assert rec.provenance.files["curve"].sha256 == hashlib.sha256(h5_path.read_bytes()).hexdigest()
    with h5py.File(h5_path, "r") as f:
        np.testing.assert_array_equal(f["value"][()], np.linspace(0, 1.5, 5))
        stamp = {k: f["value"].attrs[k] for k in ("model", "version", "inputs_hash", "run_id")}
    assert stamp == {
        "model": "toy",
        "version": rec.version,
        "inputs_hash": rec.inputs_hash,
        "run_id": result.run_id,
    }
    log_path = Path(rec.provenance.files["log"].host_path)
    header, body = log_path.read_text().split("\n", 1)
    assert body == "evaluated x=1.5 n=5.0\n"
    assert json.loads(header.removeprefix("# lume ")) == stamp
    assert meta["toy/curve"]["shape"].value == "(5,)"

    # metadata: cache miss, inputs/outputs tables, code version = model version
    assert meta["toy/result"]["cache_hit"].value is False
    inputs_md = meta["toy/result"]["inputs_table"].value
    assert inputs_md.splitlines()[0] == "| name | kind | value | units | allowed |"
    assert "| x | scalar | 1.5 | m | [0, 10] m |" in inputs_md
    outputs_md = meta["toy/result"]["outputs_table"].value
    assert "| curve | array | float64[5] min 0 max 1.5 | m | shape (None,) |" in outputs_md
    assert asset.code_versions_by_key[model_result_key(spec)] == "1"
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == RANGE_CHECK and check.passed


def test_config_shows_inputs_with_defaults_and_ranges() -> None:
    asset = model_asset(make_spec(Counter()))
    fields = asset.op.config_schema.as_field().config_type.fields
    assert fields["x"].default_value == 1.5
    assert "allowed: [0, 10] m" in fields["x"].description
    assert fields["force"].default_value is False
    assert not fields["x"].is_required


def test_run_config_lists_the_inputs_in_declared_order_with_units() -> None:
    """Dagster shows config fields alphabetically: each input's description carries its place
    and units, and the config's description (Dagit's launchpad help) lists them in order."""
    import re

    from lume_assets.demo.beam_model import BEAM_ENVELOPE

    config = model_asset(BEAM_ENVELOPE).op.config_schema.as_field()
    fields = config.config_type.fields
    names = [var.name for var in BEAM_ENVELOPE.inputs]
    assert names[:2] == ["k_f", "k_d"]  # declared order, not alphabetical
    for place, name in enumerate(names, start=1):
        assert fields[name].description.startswith(f"input {place} of {len(names)}"), name
    assert fields["k_f"].description == (
        "input 1 of 10 [1/m^2]: focusing quad strength; allowed: [0, 10] 1/m^2"
    )
    assert fields["force"].description.startswith("Run setting, not a model input")
    summary = config.description
    assert re.findall(r"(?:declared order: | \| )(\w+)", summary) == names
    assert "k_d [1/m^2]: defocusing quad strength; allowed: [-10, 0] 1/m^2" in summary
    assert "Storage (result store, registry, file roots) is set under resources:" in summary


def _result_description(asset: dg.AssetsDefinition, spec: ModelSpec) -> str:
    """The description of `spec`'s result asset."""
    return asset.specs_by_key[model_result_key(spec)].description or ""


def test_the_result_asset_links_a_launchpad_in_declared_order(resources: dict) -> None:
    """The result asset's description links Dagit's launchpad setup route for the model's own
    job (`launchpad_jobs`), on YAML that Dagster's loader validates as written: the inputs in
    declared order with units and ranges as comments, then `force` apart."""
    import re
    from urllib.parse import parse_qs, urlsplit

    import yaml

    from lume_assets.assets.model_config import (
        MAX_LINK,
        LaunchpadBlock,
        _yaml_value,
        launchpad_jobs,
        launchpad_link,
    )
    from lume_assets.demo.beam_model import BEAM_ENVELOPE

    asset = model_asset(BEAM_ENVELOPE)
    description = _result_description(asset, BEAM_ENVELOPE)
    link = re.search(r"\]\((/guess/[^)]+)\)", description)
    assert link is not None, description
    url = urlsplit(link.group(1))
    assert url.path == "/guess/beam_envelope_launchpad/playground/setup"
    text = parse_qs(url.query)["config"][0]
    config = yaml.safe_load(text)  # PyYAML, as Dagster reads the launchpad's text
    values = config["ops"]["beam_envelope"]["config"]
    assert list(values) == [*(v.name for v in BEAM_ENVELOPE.inputs), "force"]
    assert values["emittance_x"] == 1e-6  # written 1.0e-06: PyYAML reads `1e-06` as a string
    rows = {line.split(":")[0].strip(): line for line in text.splitlines()}
    assert rows["k_f"].endswith("# [1/m^2] focusing quad strength; allowed: [0, 10] 1/m^2")
    assert "run setting, not a model input" in text and "resources:" in text
    (job,) = launchpad_jobs([asset])
    defs = dg.Definitions(assets=[asset], jobs=[job], resources=resources)
    job_def = defs.resolve_job_def("beam_envelope_launchpad")
    assert dg.validate_run_config(job_def, config)["ops"]["beam_envelope"]["config"]["k_f"] == 2.0
    assert job_def.asset_layer.executable_asset_keys == set(asset.keys)

    # a required input shows as null with "required"; graph nodes and partitions get no link
    toy = make_spec(Counter())
    required = ScalarVariable(name="x", units="m", value_range=(0, 1))
    toy = ModelSpec(**{**dict(toy), "inputs": [required, *toy.inputs[1:]]})
    found = re.search(r"config=([^)]+)\)", _result_description(model_asset(toy), toy))
    assert found is not None
    text = parse_qs(f"config={found.group(1)}")["config"][0]
    assert "x: null" in text and "allowed: [0, 1] m; required" in text
    parts = dg.StaticPartitionsDefinition(["a"])
    others = [model_asset(toy, node="sim"), model_asset(toy, partitions_def=parts)]
    assert launchpad_jobs(others) == []

    # a large model: the comments drop the texts (a click is one GET), then the link goes
    def big(count: int) -> ModelSpec:
        text = "gradient of a quadrupole in the second arc"
        inputs = [
            ScalarVariable(
                name=f"q{i}", default=1.0, units="T/m", value_range=(-5, 5), description=text
            )
            for i in range(count)
        ]
        return ModelSpec(
            name="big",
            version="1",
            function=lambda **kw: {"y": 0.0},
            inputs=inputs,
            outputs=[ScalarVariable(name="y")],
        )

    short = launchpad_link("big_launchpad", [LaunchpadBlock(big(120), "big")])
    assert short is not None and len(short) <= MAX_LINK
    text = parse_qs(urlsplit(short).query)["config"][0]
    assert (
        "q119: 1.0" in text and "# [T/m]; allowed: [-5, 5] T/m" in text and "quadrupole" not in text
    )
    assert launchpad_link("big_launchpad", [LaunchpadBlock(big(400), "big")]) is None
    # every default reads back as itself through PyYAML (floats keep a dot, numpy is plain)
    values = [1e20, -1.5e-7, 3, True, None, "a: b", [1.0, 1e-9], np.float64(2.5), np.arange(3)]
    for value in values:
        back = yaml.safe_load(_yaml_value(value))
        assert back == (value.tolist() if isinstance(value, np.ndarray) else value), value
    assert launchpad_jobs([model_asset(big(400))]) == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"x": 11.0}, "input 'x' = 11 is outside its allowed range [0, 10] m"),
        ({"n": 1.0}, "input 'n' = 1 is outside its allowed range [2, 100]"),
    ],
)
def test_bad_config_fails_before_the_model_is_called(
    resources, instance, config: dict, message: str
) -> None:
    fn = Counter()
    asset = model_asset(make_spec(fn, retry=RetrySpec(max_retries=3)))
    result = dg.materialize(
        [asset],
        resources=resources,
        instance=instance,
        run_config=run_config(**config),
        raise_on_error=False,
    )
    assert not result.success
    assert fn.calls == 0
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert message in failure.step_failure_data.user_failure_data.description
    # a clean Failure: not retried, no model traceback
    assert not [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]


def test_config_of_the_wrong_type_is_refused_before_the_run(resources, instance) -> None:
    fn = Counter()
    with pytest.raises(dg.DagsterInvalidConfigError, match='config:x. Value "fast"'):
        dg.materialize(
            [model_asset(make_spec(fn))],
            resources=resources,
            instance=instance,
            run_config=run_config(x="fast"),
        )
    assert fn.calls == 0


def test_cache_hit_skips_evaluation_with_identical_outputs(resources, instance, store) -> None:
    fn = Counter()
    asset = model_asset(make_spec(fn))
    first = dg.materialize(
        [asset], resources=resources, instance=instance, run_config=run_config(x=2.0)
    )
    paths = {
        k: Path(str(m["path"].value)) for k, m in materializations(first).items() if "path" in m
    }
    before = {k: p.read_bytes() for k, p in paths.items()}
    # another evaluation overwrites the files ...
    dg.materialize([asset], resources=resources, instance=instance, run_config=run_config(x=3.0))
    assert fn.calls == 2
    # ... and the cache hit restores exactly the first outputs without calling the model
    again = dg.materialize(
        [asset], resources=resources, instance=instance, run_config=run_config(x=2.0)
    )
    assert again.success and fn.calls == 2
    meta = materializations(again)
    assert all(m["cache_hit"].value is True for m in meta.values())
    assert meta["toy/result"]["evaluated_in_run"].value == first.run_id
    with h5py.File(paths["toy/curve"], "r") as f:
        np.testing.assert_array_equal(f["value"][()], np.linspace(0, 2.0, 5))
    assert paths["toy/log"].read_bytes() == before["toy/log"]
    assert store.count("toy") == 2

    forced = dg.materialize(
        [asset], resources=resources, instance=instance, run_config=run_config(x=2.0, force=True)
    )
    assert forced.success and fn.calls == 3
    assert materializations(forced)["toy/result"]["cache_hit"].value is False
    assert store.count("toy") == 2  # same inputs hash: replaced, not duplicated


def test_new_model_version_misses_the_cache(resources, instance, store) -> None:
    fn = Counter()
    dg.materialize([model_asset(make_spec(fn))], resources=resources, instance=instance)
    v2 = make_spec(fn, version="2")
    result = dg.materialize([model_asset(v2)], resources=resources, instance=instance)
    assert fn.calls == 2
    assert materializations(result)["toy/result"]["cache_hit"].value is False
    assert sorted(r.version for r in store.find("toy")) == ["1", "2"]
    live = ModelRegistry(resources["registry"].url).get_deployment("toy")
    assert live.version == "2"


def test_out_of_range_output_is_stored_and_flagged_by_the_check(resources, instance, store) -> None:
    asset = model_asset(make_spec(Counter(scale=20.0)))
    result = dg.materialize(
        [asset], resources=resources, instance=instance, run_config=run_config(x=5.0)
    )
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    assert (
        "output 'y' = 100 is outside its allowed range [0, 15] m"
        in check.metadata["violations"].value
    )
    assert store.find("toy")[0].outputs["y"] == 100.0


def test_model_output_errors_fail_cleanly(resources, instance) -> None:
    asset = model_asset(make_spec(lambda x, n: {"y": x, "curve": [[1.0]], "log": ""}))
    result = dg.materialize([asset], resources=resources, instance=instance, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "output 'curve' has shape (1, 1), expected (None,)" in (
        failure.step_failure_data.user_failure_data.description
    )


def test_timeout_fails_and_is_retried_per_the_retry_policy(resources, instance) -> None:
    release = threading.Event()
    calls = []

    def slow(x: float, n: float) -> dict:
        calls.append(x)
        release.wait(10)
        return Counter()(x, n)

    spec = make_spec(slow, timeout=0.2, retry=RetrySpec(max_retries=1, delay=0))
    asset = model_asset(spec)
    assert asset.op.retry_policy == dg.RetryPolicy(max_retries=1)
    try:
        result = dg.materialize(
            [asset], resources=resources, instance=instance, raise_on_error=False
        )
    finally:
        release.set()
    assert not result.success
    assert len(calls) == 2
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "ran longer than its timeout of 0.2 s" in (
        failures[-1].step_failure_data.user_failure_data.description
    )


def test_models_chain_through_upstream_bindings(resources, instance, store) -> None:
    first = make_spec(Counter())
    second = ModelSpec(
        name="scaled",
        version="1",
        inputs=[
            ScalarVariable(name="a", value_range=(0, 100)),
            ArrayVariable(name="v", shape=(None,)),
        ],
        outputs=[ScalarVariable(name="total")],
        function=lambda a, v: {"total": a + float(np.sum(v))},
    )
    upstream = {"a": output_binding(first, "y"), "v": output_binding(first, "curve")}
    assert upstream["a"] == FromOutput(model_result_key(first), "y")
    assert upstream["v"] == model_output_key(first, "curve")
    assets = [model_asset(first), model_asset(second, upstream=upstream)]
    result = dg.materialize(assets, resources=resources, instance=instance)
    assert result.success
    [rec] = store.find("scaled")
    assert rec.inputs["a"] == 3.0
    assert rec.outputs["total"] == pytest.approx(3.0 + np.linspace(0, 1.5, 5).sum())
    fields = assets[1].op.config_schema.as_field().config_type.fields
    assert "a" not in fields and "v" not in fields


def test_partition_inputs_drive_each_partition(resources, instance, store) -> None:
    fn = Counter()
    parts = dg.StaticPartitionsDefinition(["1", "4"])
    asset = model_asset(
        make_spec(fn), partitions_def=parts, partition_inputs=lambda key: {"x": float(key)}
    )
    result = dg.materialize([asset], resources=resources, instance=instance, partition_key="4")
    assert result.success
    [rec] = store.find("toy")
    assert rec.inputs["x"] == 4.0 and rec.provenance.partition_key == "4"
    assert rec.provenance.files["curve"].path == f"toy/curve/4/{rec.inputs_hash[:16]}.h5"


def test_spec_resources_become_launcher_tags() -> None:
    spec = make_spec(
        Counter(),
        resources={
            "cpu": "2",
            "memory": "1Gi",
            "image": "lume/toy:1",
            "node_selector": {"gpu": "none"},
        },
    )
    tags = model_asset(spec).op.tags
    k8s = json.loads(tags["dagster-k8s/config"])
    assert k8s["container_config"]["resources"]["requests"] == {"cpu": "2", "memory": "1Gi"}
    assert k8s["container_config"]["image"] == "lume/toy:1"
    assert k8s["pod_spec_config"]["node_selector"] == {"gpu": "none"}
    assert tags["docker/image"] == "lume/toy:1"
    assert json.loads(tags["lume/resources"])["memory"] == "1Gi"
    assert tags["lume/model"] == "toy" and tags["lume/version"] == "1"


def test_declaration_errors() -> None:
    with pytest.raises(ModelError, match="has no input\\(s\\) \\['z'\\]"):
        model_asset(make_spec(Counter()), upstream={"z": "a"})
    with pytest.raises(ModelError, match="reserved name"):
        model_asset(
            ModelSpec(
                name="m",
                version="1",
                outputs=[ScalarVariable(name="result")],
                function=lambda: {"result": 1.0},
            )
        )
    with pytest.raises(ModelError, match="has no output 'nope'"):
        model_output_key(make_spec(Counter()), "nope")


def test_array_inputs_in_config_and_image_outputs_with_axes(resources, instance, store) -> None:
    from lume_assets.models.variables import ImageVariable

    screen = ModelSpec(
        name="screen",
        version="1",
        inputs=[ArrayVariable(name="centroid", shape=(2,), default=[0.0, 0.0], units="mm")],
        outputs=[
            ImageVariable(
                name="xy",
                shape=(4, 5),
                axis_labels=("x", "y"),
                axis_units=("mm", "mm"),
                x_min=-2,
                x_max=2,
                y_min=-1,
                y_max=1,
                units="counts",
            )
        ],
        function=lambda centroid: {"xy": np.full((4, 5), centroid.sum())},
    )
    total = ModelSpec(
        name="total",
        version="1",
        inputs=[ArrayVariable(name="image", shape=(None, None))],
        outputs=[ScalarVariable(name="sum")],
        function=lambda image: {"sum": float(image.sum())},
    )
    screen_asset = model_asset(screen)
    fields = screen_asset.op.config_schema.as_field().config_type.fields
    assert fields["centroid"].default_value == [0.0, 0.0]
    assets = [screen_asset, model_asset(total, upstream={"image": output_binding(screen, "xy")})]
    result = dg.materialize(
        assets,
        resources=resources,
        instance=instance,
        run_config={"ops": {"screen": {"config": {"centroid": [1.0, 0.5]}}}},
    )
    assert result.success
    [rec] = store.find("screen")
    with h5py.File(rec.provenance.files["xy"].host_path, "r") as f:
        np.testing.assert_array_equal(f["value"][()], np.full((4, 5), 1.5))
        attrs = dict(f["value"].attrs)
    assert list(attrs["axis_labels"]) == ["x", "y"] and attrs["x_min"] == -2
    assert attrs["units"] == "counts" and attrs["inputs_hash"] == rec.inputs_hash
    assert store.find("total")[0].outputs["sum"] == 30.0
    bad = dg.materialize(
        [screen_asset],
        resources=resources,
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"screen": {"config": {"centroid": [1.0, 2.0, 3.0]}}}},
    )
    [failure] = [e for e in bad.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "input 'centroid' has shape (3,), expected (2,)" in (
        failure.step_failure_data.user_failure_data.description
    )


def test_a_result_held_for_approval_is_never_published_by_a_rerun(
    resources, instance, store
) -> None:
    from lume_assets.storage.results import Result

    fn = Counter()
    spec = make_spec(fn)
    held = Result(
        model="toy",
        version="1",
        inputs={"x": 1.5, "n": 5.0},
        outputs=Counter()(1.5, 5.0),
        published=False,
    )
    store.put(held)
    asset = model_asset(spec)
    hit = dg.materialize([asset], resources=resources, instance=instance)
    assert fn.calls == 0  # the held result is the cache entry
    meta = materializations(hit)["toy/result"]
    assert meta["cache_hit"].value is True and meta["published"].value is False
    assert store.get(held.inputs_hash).published is False
    forced = dg.materialize(
        [asset], resources=resources, instance=instance, run_config=run_config(force=True)
    )
    assert fn.calls == 1 and materializations(forced)["toy/result"]["cache_hit"].value is False
    assert store.get(held.inputs_hash).published is False  # still waiting for approval
