"""The model catalogue: names registered from Python, lazy built-ins, `module:attr` imports."""

from __future__ import annotations

import pytest

from lume_assets.errors import ModelError
from lume_assets.models.catalogue import (
    CATALOGUE,
    ModelCatalogue,
    entry_point_models,
    import_model,
    register_model,
)
from tests.assets.graph_toys import CONSUMER, PRODUCER


def test_register_and_resolve_by_name() -> None:
    catalogue = ModelCatalogue([PRODUCER])
    catalogue.register(CONSUMER, name="sink")
    assert catalogue.resolve("producer") is PRODUCER
    assert catalogue.resolve("sink") is CONSUMER
    assert catalogue.names() == ["producer", "sink"]
    assert "sink" in catalogue and "consumer" not in catalogue
    with pytest.raises(ModelError, match="already registered as 'producer'"):
        catalogue.register(CONSUMER, name="producer")
    catalogue.register(CONSUMER, name="producer", replace=True)
    assert catalogue.resolve("producer") is CONSUMER


def test_unknown_name_suggests_the_nearest() -> None:
    with pytest.raises(ModelError, match="did you mean 'producer'") as info:
        ModelCatalogue([PRODUCER, CONSUMER]).resolve("prodcuer")
    assert "known models: consumer, producer" in str(info.value)


def test_installed_models_are_lazy_entry_point_references() -> None:
    installed = entry_point_models()  # the demo announces its models like any package
    ref = "lume_assets.demo.beam_model:BEAM_ENVELOPE"
    assert installed["beam_envelope"] == (ref, "lume_assets")
    catalogue = ModelCatalogue(entry_points=True)
    assert "beam_envelope" in catalogue
    assert catalogue.reference("beam_envelope") == installed["beam_envelope"][0]
    assert catalogue.source("beam_envelope") == "entry point (lume_assets)"
    assert catalogue.resolve("beam_envelope").name == "beam_envelope"
    for name in installed:
        assert catalogue.resolve(name).name == name
    assert "beam_envelope" not in ModelCatalogue()  # only when asked for


def test_import_references() -> None:
    assert import_model("tests.assets.graph_toys:PRODUCER") is PRODUCER
    assert ModelCatalogue().resolve("tests.assets.graph_toys:CONSUMER") is CONSUMER
    with pytest.raises(ModelError, match="not an import reference"):
        import_model("not a ref")
    with pytest.raises(ModelError, match="cannot import module"):
        import_model("tests.no_such_module:SPEC")
    with pytest.raises(ModelError, match="did you mean 'PRODUCER'"):
        import_model("tests.assets.graph_toys:PRODUCE")
    with pytest.raises(ModelError, match="not a ModelSpec"):
        import_model("tests.assets.graph_toys:NOT_A_SPEC")


def test_callables_are_refused_never_called(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.assets.graph_toys as toys

    calls = []
    monkeypatch.setattr(toys, "make_producer", lambda: calls.append(1) or PRODUCER, raising=False)
    with pytest.raises(ModelError, match="is a callable .*not a ModelSpec"):
        import_model("tests.assets.graph_toys:make_producer")
    assert calls == []


def test_register_model_uses_the_process_catalogue() -> None:
    copy = CATALOGUE.copy()
    try:
        register_model(PRODUCER, name="toy_producer_for_test")
        assert CATALOGUE.resolve("toy_producer_for_test") is PRODUCER
        assert "toy_producer_for_test" not in copy
    finally:
        CATALOGUE._specs.pop("toy_producer_for_test", None)
