"""ModelSpec validates inputs before the callable, outputs after, and enforces its timeout."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from lume_assets.errors import ModelError, ModelInputError, ModelOutputError, ModelTimeoutError
from lume_assets.models.model import ModelResources, ModelSpec, RetrySpec
from lume_assets.models.variables import ArrayVariable, ScalarVariable, TextVariable

DATA = Path(__file__).parent / "data"


def make_spec(fn, **extra) -> ModelSpec:
    return ModelSpec(
        name="toy",
        version="1",
        inputs=[
            ScalarVariable(name="x", default=1.0, value_range=(0, 10), units="m"),
            ArrayVariable(name="w", shape=(3,), default=[1.0, 1.0, 1.0]),
        ],
        outputs=[
            ScalarVariable(name="y", value_range=(0, 100)),
            ArrayVariable(name="v", shape=(3,)),
            TextVariable(name="log"),
        ],
        function=fn,
        **extra,
    )


def toy(x: float, w: np.ndarray) -> dict:
    return {"y": x * 2, "v": w * x, "log": f"x={x}"}


def test_evaluate_fills_defaults_and_validates_outputs() -> None:
    out = make_spec(toy).evaluate({"x": 3})
    assert out["y"] == 6.0
    np.testing.assert_array_equal(out["v"], [3, 3, 3])
    assert out["log"] == "x=3.0"


def test_bad_input_fails_before_the_callable_runs() -> None:
    calls = []

    def spy(**kw):
        calls.append(kw)
        return toy(**kw)

    spec = make_spec(spy)
    with pytest.raises(
        ModelInputError, match=r"input 'x' = 11 is outside its allowed range \[0, 10\] m"
    ):
        spec.evaluate(x=11)
    with pytest.raises(ModelInputError, match=r"input 'w' has shape \(2,\), expected \(3,\)"):
        spec.evaluate(w=[1, 2])
    assert calls == []


def test_bad_outputs_are_refused_after_the_call() -> None:
    with pytest.raises(ModelOutputError, match="output 'log' is missing"):
        make_spec(lambda x, w: {"y": 1.0, "v": w}).evaluate()
    with pytest.raises(ModelOutputError, match=r"output 'v' has shape \(2,\)"):
        make_spec(lambda x, w: {"y": 1.0, "v": [1, 2], "log": ""}).evaluate()
    with pytest.raises(ModelOutputError, match="returned list; it must return a dict"):
        make_spec(lambda x, w: [1]).evaluate()
    with pytest.raises(ModelOutputError, match="unknown output"):
        make_spec(lambda x, w: {**toy(x, w), "z": 1}).evaluate()


def test_output_ranges_are_reported_not_raised() -> None:
    spec = make_spec(lambda x, w: {"y": 1e3, "v": w, "log": ""})
    out = spec.evaluate()
    assert out["y"] == 1e3
    problems = spec.out_of_range_outputs(out)
    assert (
        len(problems) == 1
        and "output 'y' = 1000 is outside its allowed range [0, 100]" in problems[0]
    )
    assert make_spec(toy).out_of_range_outputs(make_spec(toy).evaluate()) == []


def test_timeout_raises_and_fast_models_pass() -> None:
    release, returned = threading.Event(), threading.Event()

    def slow(x, w):
        release.wait(600)  # until the test releases it, long after the timeout
        returned.set()
        return toy(x, w)

    spec = make_spec(slow, timeout=0.2)
    with pytest.raises(ModelTimeoutError, match="ran longer than its timeout of 0.2 s"):
        spec.evaluate()
    assert not returned.is_set()  # the timeout ended the wait, not the model returning
    release.set()
    assert make_spec(toy, timeout=60).evaluate()["y"] == 2.0


def test_exceptions_inside_a_timed_model_propagate() -> None:
    def broken(x, w):
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError, match="boom"):
        make_spec(broken, timeout=5).evaluate()


def test_batch_evaluation_uses_the_vectorized_function() -> None:
    batches = []

    def batch(x, w):
        batches.append(x.shape)
        return {"y": 2 * x, "v": list(w * x[:, None]), "log": [f"x={v}" for v in x]}

    spec = make_spec(toy, batch_function=batch)
    points = [{"x": 1.0}, {"x": 2.0}, {"x": 3.0}]
    out = spec.evaluate_batch(points)
    assert batches == [(3,)]
    assert [o["y"] for o in out] == [2.0, 4.0, 6.0]
    looped = make_spec(toy).evaluate_batch(points)
    assert [o["y"] for o in looped] == [2.0, 4.0, 6.0]
    with pytest.raises(ModelInputError):
        spec.evaluate_batch([{"x": -1.0}])


def test_spec_declaration_errors() -> None:
    with pytest.raises(ModelError, match="input variable 'x' is declared twice"):
        ModelSpec(
            name="m",
            version="1",
            function=toy,
            inputs=[ScalarVariable(name="x"), ScalarVariable(name="x")],
            outputs=[ScalarVariable(name="y")],
        )
    with pytest.raises(ValidationError, match="not a Kubernetes quantity"):
        ModelResources(cpu="lots")
    with pytest.raises(ValidationError):
        RetrySpec(max_retries=-1)
    with pytest.raises(ValidationError):
        make_spec(toy, timeout=0)


def test_source_hash_and_import_path_track_the_code() -> None:
    a = make_spec(toy)
    assert a.import_path.endswith("test_model_spec:toy")
    assert a.source_sha256() == make_spec(toy).source_sha256()

    def other(x, w):
        return toy(x, w)

    assert make_spec(other).source_sha256() != a.source_sha256()


def test_spec_from_lume_variables_file() -> None:
    def injector(**kw):
        return {
            "end_sigma_x": 0.3,
            "end_norm_emit_x": 0.4,
            "end_mean_kinetic_energy": 6e6,
            "x_y": np.zeros((50, 50)),
        }

    spec = ModelSpec.from_variables_file(
        DATA / "lcls_cu_inj_variables.yml", name="cu_inj", version="0.1", function=injector
    )
    assert len(spec.inputs) == 6
    out = spec.evaluate()
    assert out["x_y"].shape == (50, 50)
    with pytest.raises(ModelInputError, match="SOL1_solenoid_field_scale"):
        spec.evaluate(SOL1_solenoid_field_scale=1.0)
