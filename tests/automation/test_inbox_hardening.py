"""A sensor that cannot be poisoned, and partition keys that cannot leave the inbox (issue 15).

Real files, Dagster's build_sensor_context on a real test instance, the demo beam model's own
input validation, and `dg.materialize` through the real IO managers.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import dagster as dg
import pytest

from lume_assets.assets.model_assets import model_asset
from lume_assets.automation.inbox import InboxScanner, parse_inputs
from lume_assets.automation.model_partitions import (
    inbox_inputs,
    model_inputs_validator,
)
from lume_assets.automation.sensors import InboxSensorSpec, build_inbox_sensor
from lume_assets.demo.beam_model import BEAM_ENVELOPE
from lume_assets.errors import ModelInputError, SensorInputError
from lume_assets.io_managers.registry import RegistryResource
from lume_assets.io_managers.results import ResultIOManager, ResultStoreResource
from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import ScalarVariable
from tests.automation.conftest import deliver

SECRET = "sk-live-0123456789abcdef"
PARTS = dg.DynamicPartitionsDefinition(name="beam_envelope_inputs")


def ramp(x: float, n: float) -> dict:
    """A cheap model: the sum of a ramp from 0 to x in n steps."""
    return {"total": x * n / 2.0}


RAMP = ModelSpec(
    name="ramp",
    version="1.0",
    inputs=[
        ScalarVariable(name="x", default=1.0, value_range=(0.0, 1000.0)),
        ScalarVariable(name="n", default=8.0, value_range=(2.0, 64.0)),
    ],
    outputs=[ScalarVariable(name="total")],
    function=ramp,
)


@pytest.fixture
def resources(lume_settings) -> dict:
    """The real result store and IO manager, configured from the isolated LUME settings."""
    files = str(lume_settings.resolved_files_root())
    store = ResultStoreResource(url=lume_settings.resolved_results_url(), files_root=files)
    return {
        "result_store": store,
        "result_io_manager": ResultIOManager(result_store=store),
        "registry": RegistryResource(),
    }


@pytest.fixture(scope="module")
def instance():
    """One Dagster test instance for the module (sensor ticks and runs)."""
    with dg.instance_for_test() as inst:
        yield inst


def beam_sensor(inbox: Path, **spec: object) -> dg.SensorDefinition:
    """The demo's inbox sensor shape: the beam model validated by its own input checks."""
    target = model_asset(
        BEAM_ENVELOPE, partitions_def=PARTS, partition_inputs=inbox_inputs(inbox), key_prefix="t"
    )
    return build_inbox_sensor(
        InboxSensorSpec(name="beam_inbox", inbox_dir=inbox, **spec),
        target=target,
        inputs_model=model_inputs_validator(BEAM_ENVELOPE),
    )


def tick(sensor: dg.SensorDefinition, cursor: str | None, instance: dg.DagsterInstance):
    """One sensor evaluation from `cursor`."""
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def rejected(inbox: Path, name: str) -> str:
    """The error text of a rejected file (asserting the file itself was moved too)."""
    assert not (inbox / name).exists(), f"{name} still in the inbox"
    assert (inbox / "rejected" / name).exists() or (inbox / "rejected" / name).is_symlink()
    return (inbox / "rejected" / f"{name}.error.txt").read_text()


# -- 1. partition keys never leave the inbox --------------------------------------------------
@pytest.fixture
def secret_dir(tmp_path: Path) -> Path:
    """A folder beside the inbox holding a secret-looking input file."""
    folder = tmp_path / "secret"
    folder.mkdir()
    (folder / "token.yaml").write_text(f"k_f: {SECRET}\ndb_password: {SECRET}\n")
    return folder


@pytest.mark.parametrize(
    "key",
    [
        "../secret/token.yaml",
        "sub/../../secret/token.yaml",
        "{secret}/token.yaml",
        "..",
        ".",
        "",
        "rejected",
        "a\\b.yaml",
    ],
)
def test_partition_keys_other_than_plain_inbox_files_are_refused(
    tmp_path: Path, secret_dir: Path, key: str
) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "rejected").mkdir(parents=True)
    key = key.format(secret=secret_dir)
    with pytest.raises(ModelInputError) as info:
        inbox_inputs(inbox)(key)
    assert SECRET not in str(info.value) and "db_password" not in str(info.value)


def test_a_symlink_in_the_inbox_is_refused_not_followed(tmp_path: Path, secret_dir: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "link.yaml").symlink_to(secret_dir / "token.yaml")
    with pytest.raises(ModelInputError, match="symbolic link") as info:
        inbox_inputs(inbox)("link.yaml")
    assert SECRET not in str(info.value)
    deliver(inbox, "ok.yaml", "k_f: 2.2\n")
    assert inbox_inputs(inbox)("ok.yaml") == {"k_f": 2.2}


def test_an_absolute_key_added_through_the_instance_neither_runs_nor_stores(
    resources,
    instance,
    tmp_path: Path,
    secret_dir: Path,
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (secret_dir / "x.yaml").write_text("x: 7\n")
    parts = dg.DynamicPartitionsDefinition(name="ramp_inputs")
    asset = model_asset(RAMP, partitions_def=parts, partition_inputs=inbox_inputs(inbox))
    key = str(secret_dir / "x.yaml")
    instance.add_dynamic_partitions("ramp_inputs", [key])
    run = dg.materialize(
        [asset], instance=instance, resources=resources, partition_key=key, raise_on_error=False
    )
    assert not run.success
    [failure] = [e for e in run.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "not a plain file name inside the inbox" in str(failure.event_specific_data)
    assert resources["result_store"].get_store().find("ramp", include_unpublished=True) == []


# -- 5. one poisoned file rejects that file only ----------------------------------------------
def test_poison_files_are_rejected_and_the_cursor_advances(tmp_path: Path, instance) -> None:
    inbox = tmp_path / "inbox"
    sensor = beam_sensor(inbox)
    deliver(inbox, "huge_int.yaml", "k_f: " + "9" * 400 + "\n")
    deliver(inbox, "huge_int.json", '{"k_f": ' + "7" * 400 + "}")
    deliver(inbox, "deep.json", '{"k_f": ' + "[" * 100_000 + "]" * 100_000 + "}")
    deliver(inbox, "deep.yaml", "k_f: " + "[" * 100_000 + "]" * 100_000 + "\n")
    deliver(inbox, "secret.yaml", f"k_f: {SECRET}\ndb_password: {SECRET}\n")
    first = tick(sensor, None, instance)
    assert first.run_requests == []
    for name in ("huge_int.yaml", "huge_int.json", "deep.json", "deep.yaml", "secret.yaml"):
        error = rejected(inbox, name)
        assert name in error and SECRET not in error and "9" * 50 not in error
    # the next tick sees only the new good file: the cursor moved past the poison
    time.sleep(0.01)
    deliver(inbox, "good.yaml", "k_f: 2.2\n")
    second = tick(sensor, first.cursor, instance)
    assert [r.partition_key for r in second.run_requests] == ["good.yaml"]
    assert tick(sensor, second.cursor, instance).run_requests == []


# -- 6. aliases, merge keys, duplicates, size and depth caps ----------------------------------
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n"
    for i in range(9)
)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("laughs.yaml", LAUGHS, "aliases"),
        ("merge.yaml", "base: &b {k_f: 2.2}\nother:\n  <<: *b\n", "aliases"),
        ("merge2.yaml", "k_f: 2.2\n<<: {k_d: 1.0}\n", "merge keys"),
        ("dup.yaml", "k_f: 2.2\nk_f: 2.3\n", "appears twice"),
        ("dup.json", '{"k_f": 2.2, "k_f": 2.3}', "appears twice"),
        ("nested.yaml", "k_f: " + "[" * 40 + "]" * 40 + "\n", "nested deeper"),
        ("nested.json", '{"k_f": ' + "[" * 40 + "]" * 40 + "}", "nested deeper"),
        ("block.yaml", "k_f:\n" + "".join("  " * i + "- \n" for i in range(1, 40)), "nested"),
        ("big.yaml", "k_f: 2.2\n#" + "x" * 5000 + "\n", "byte limit"),
        ("binary.yaml", "\udcff\udcfe", "not UTF-8"),
        ("list.yaml", "- 1\n- 2\n", "expected a mapping"),
        ("keys.yaml", "1: 2\n", "a key of type int"),
    ],
)
def test_hostile_yaml_and_json_are_refused_quickly(
    tmp_path: Path, instance, name: str, content: str, expected: str
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / name).write_bytes(content.encode("utf-8", "surrogateescape"))
    started = time.perf_counter()
    result = tick(beam_sensor(inbox, max_file_bytes=4096), None, instance)
    assert time.perf_counter() - started < 30  # a guard against blow-up, not a benchmark
    assert result.run_requests == []
    assert expected in rejected(inbox, name)


def test_parse_inputs_refuses_aliases_even_without_the_event_check() -> None:
    with pytest.raises(SensorInputError, match="aliases"):
        parse_inputs("a.yaml", b"x: &a 1\ny: *a\n")
    assert parse_inputs("a.yaml", b"x: &a 1\ny: 2\n") == {"x": 1, "y": 2}  # an unused anchor


def test_caps_are_configurable(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    deliver(inbox, "deep.json", {"k_f": [[[1.0]]]})
    strict = InboxScanner(inbox, max_depth=2).scan(None)
    assert [r.name for r in strict.rejected] == ["deep.json"]
    deliver(inbox, "deep.json", {"k_f": [[[1.0]]]})
    assert [f.name for f in InboxScanner(inbox, max_depth=4).scan(None).accepted] == ["deep.json"]


# -- 7. the run evaluates exactly what the sensor validated -----------------------------------
def test_a_file_rewritten_after_the_tick_fails_its_run(
    resources,
    instance,
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    parts = dg.DynamicPartitionsDefinition(name="ramp_inputs")
    asset = model_asset(RAMP, partitions_def=parts, partition_inputs=inbox_inputs(inbox))
    sensor = build_inbox_sensor(
        InboxSensorSpec(name="ramp_inbox", inbox_dir=inbox),
        target=asset,
        inputs_model=model_inputs_validator(RAMP),
    )
    deliver(inbox, "a.json", {"x": 3.0})
    deliver(inbox, "b.yaml", "x: 4\n")
    result = tick(sensor, None, instance)
    [add] = result.dynamic_partitions_requests
    instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
    requests = {r.partition_key: r for r in result.run_requests}
    deliver(inbox, "a.json", {"x": 900.0})  # rewritten between the tick and the run
    os.utime(inbox / "b.yaml")  # touched: same bytes, so its run goes ahead

    def launch(key: str) -> dg.ExecuteInProcessResult:
        request = requests[key]
        return dg.materialize(
            [asset],
            instance=instance,
            resources=resources,
            partition_key=key,
            run_config=request.run_config,
            tags=request.tags,
            raise_on_error=False,
        )

    changed = launch("a.json")
    assert not changed.success
    [failure] = [e for e in changed.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "changed after the sensor validated it" in str(failure.event_specific_data)
    assert launch("b.yaml").success
    store = resources["result_store"].get_store()
    assert sorted(r.inputs["x"] for r in store.find("ramp", include_unpublished=True)) == [4.0]
    assert json.loads(json.dumps(requests["b.yaml"].run_config))["ops"]["ramp"]["config"] == {
        "x": 4.0,
        "n": 8.0,
    }
