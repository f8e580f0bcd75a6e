"""The new-input sensor on real files with Dagster's build_sensor_context and a real instance."""

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from lume_assets.automation.inbox import InboxCursor
from lume_assets.automation.sensors import (
    INPUT_FILE_TAG,
    InboxSensorSpec,
    build_inbox_sensor,
)
from lume_assets.errors import ConfigError
from tests.automation.conftest import INPUT_PARTITIONS, BeamInputs, beam_eval, deliver


def make_sensor(inbox: Path, **spec: object) -> dg.SensorDefinition:
    """The sensor under test: beam_eval over the inbox, validated with BeamInputs."""
    return build_inbox_sensor(
        InboxSensorSpec(name="beam_inbox", inbox_dir=inbox, **spec),
        target=beam_eval,
        inputs_model=BeamInputs,
    )


def tick(sensor: dg.SensorDefinition, cursor: str | None, instance: dg.DagsterInstance):
    """Evaluate one tick from a fresh context holding only `cursor` (as after a restart)."""
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_new_file_requests_one_run_with_its_inputs_and_partition(inbox, instance):
    sensor = make_sensor(inbox)
    path = deliver(inbox, "run1.yaml", "energy: 5.5\n")
    result = tick(sensor, None, instance)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.partition_key == "run1.yaml"
    assert request.run_config == {"ops": {"beam_eval": {"config": {"energy": 5.5, "charge": 1.0}}}}
    assert request.tags[INPUT_FILE_TAG] == str(path)
    assert request.run_key.startswith(f"{path}@")
    [add] = result.dynamic_partitions_requests
    assert add.partitions_def_name == "beam_inputs"
    assert list(add.partition_keys) == ["run1.yaml"]


def test_same_file_again_requests_nothing_and_redelivery_keeps_run_key(inbox, instance):
    sensor = make_sensor(inbox)
    deliver(inbox, "a.json", {"energy": 1.0})
    first = tick(sensor, None, instance)
    again = tick(sensor, first.cursor, instance)
    assert again.run_requests == [] and again.skip_reason is not None
    # re-delivered with identical content (a new inode and change time): still no new run
    deliver(inbox, "a.json", {"energy": 1.0})
    redelivered = tick(sensor, again.cursor, instance)
    assert redelivered.run_requests == []
    # with no memory of it in the cursor, the request carries the same run_key, so Dagster
    # (which launches each run_key once per sensor) still does not run it twice
    forgetful = make_sensor(inbox, max_recent=0)
    deliver(inbox, "a.json", {"energy": 1.0})
    replay = tick(forgetful, None, instance)
    assert replay.run_requests[0].run_key == first.run_requests[0].run_key


def test_changed_file_requests_exactly_one_new_run(inbox, instance):
    sensor = make_sensor(inbox)
    deliver(inbox, "a.json", {"energy": 1.0})
    first = tick(sensor, None, instance)
    deliver(inbox, "a.json", {"energy": 2.0})
    changed = tick(sensor, first.cursor, instance)
    assert len(changed.run_requests) == 1
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key
    assert changed.run_requests[0].run_config["ops"]["beam_eval"]["config"]["energy"] == 2.0
    assert tick(sensor, changed.cursor, instance).run_requests == []


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("broken.yaml", "energy: [1, 2\n", "invalid YAML"),
        ("broken.json", '{"energy": 1.0,', "invalid JSON at line 1"),
        ("list.yaml", "- 1\n- 2\n", "expected a mapping"),
        ("range.json", '{"energy": 500}', "energy: Input should be less than or equal to 100"),
        ("missing.yaml", "charge: 2\n", "energy: Field required"),
    ],
)
def test_malformed_file_is_moved_with_its_error_and_the_sensor_goes_on(
    inbox, instance, name, content, expected
):
    sensor = make_sensor(inbox)
    deliver(inbox, name, content)
    deliver(inbox, "good.yaml", "energy: 3\n")
    result = tick(sensor, None, instance)  # must not raise
    assert [r.partition_key for r in result.run_requests] == ["good.yaml"]
    assert not (inbox / name).exists()
    assert (inbox / "rejected" / name).read_text() == content
    error = (inbox / "rejected" / f"{name}.error.txt").read_text()
    assert name in error and expected in error
    if "range" in name:  # the key and the value's type, never the file's value
        assert "got int" in error and "500" not in error


def test_cursor_restored_from_a_fresh_context_sees_only_later_files(inbox, instance):
    sensor = make_sensor(inbox)
    for i in range(5):
        deliver(inbox, f"f{i}.json", {"energy": i + 1})
    first = tick(sensor, None, instance)
    assert len(first.run_requests) == 5
    # the cursor is compact JSON
    state = json.loads(first.cursor)
    assert state["v"] == 1 and len(first.cursor) < 2000
    # a "restarted" sensor: a new definition object, a new context, only the stored cursor
    restarted = make_sensor(inbox)
    deliver(inbox, "f9.json", {"energy": 9})
    later = tick(restarted, first.cursor, instance)
    assert [r.partition_key for r in later.run_requests] == ["f9.json"]


def test_files_moved_in_with_an_old_mtime_are_still_seen(inbox, instance, tmp_path):
    sensor = make_sensor(inbox)
    deliver(inbox, "first.json", {"energy": 1})
    cursor = tick(sensor, None, instance).cursor
    outside = tmp_path / "old.json"
    outside.write_text('{"energy": 4}')
    os.utime(outside, (1_000_000, 1_000_000))  # like `cp -p` / `mv` of an old file
    os.replace(outside, inbox / "old.json")
    assert [r.partition_key for r in tick(sensor, cursor, instance).run_requests] == ["old.json"]


def test_hidden_and_other_files_are_ignored_and_recent_memory_is_bounded(inbox, instance):
    sensor = make_sensor(inbox, max_recent=3)
    (inbox / ".partial.json").write_text("{")
    (inbox / "notes.txt").write_text("hello")
    for i in range(6):
        deliver(inbox, f"f{i}.json", {"energy": 1})
    result = tick(sensor, None, instance)
    assert len(result.run_requests) == 6
    assert not (inbox / "rejected").exists()
    assert InboxCursor.loads(result.cursor).recent.keys() == {"f3.json", "f4.json", "f5.json"}


def test_settle_time_defers_fresh_files_and_max_per_tick_splits_a_flood(inbox, instance):
    deliver(inbox, "fresh.json", {"energy": 1})
    settling = make_sensor(inbox, settle_seconds=3600)
    assert tick(settling, None, instance).run_requests == []
    for i in range(5):
        deliver(inbox, f"f{i}.json", {"energy": 1})
    limited = make_sensor(inbox, max_per_tick=4)
    first = tick(limited, None, instance)
    second = tick(limited, first.cursor, instance)
    seen = [r.partition_key for r in first.run_requests + second.run_requests]
    assert len(first.run_requests) == 4
    assert sorted(seen) == sorted(["fresh.json"] + [f"f{i}.json" for i in range(5)])


def test_tick_through_dagster_adds_partitions_and_runs_launch(inbox, instance):
    """The daemon path: evaluate_tick resolves the requests, then the runs materialize."""
    sensor = make_sensor(inbox)
    defs = dg.Definitions(assets=[beam_eval], sensors=[sensor])
    deliver(inbox, "x.json", {"energy": 2, "charge": 3})
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        data = sensor.evaluate_tick(context)
    [request] = data.run_requests
    for req in data.dynamic_partitions_requests:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    assert instance.get_dynamic_partitions("beam_inputs") == ["x.json"]
    result = dg.materialize(
        [beam_eval],
        instance=instance,
        partition_key=request.partition_key,
        run_config=request.run_config,
        tags=request.tags,
    )
    assert result.success
    assert result.output_for_node("beam_eval") == 6.0


def test_target_must_be_dynamically_partitioned():
    @dg.asset
    def unpartitioned() -> int:
        return 1

    with pytest.raises(ConfigError, match="DynamicPartitionsDefinition"):
        build_inbox_sensor(InboxSensorSpec(), target=unpartitioned)
    assert INPUT_PARTITIONS.name == "beam_inputs"


def test_file_rewritten_within_the_same_timestamp_tick_is_seen(inbox, instance):
    """Coarse filesystem clocks: a rewrite can keep the ctime the cursor already holds."""
    sensor = make_sensor(inbox)
    path = deliver(inbox, "a.json", {"energy": 1.0})
    first = tick(sensor, None, instance)
    st = path.stat()
    deliver(inbox, "a.json", {"energy": 22.0})
    # force the new file's ctime back to the old one by rewriting the cursor's high-water mark
    state = json.loads(first.cursor)
    state["hwm"] = path.stat().st_ctime_ns
    state["tie"] = {"a.json": f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"}
    changed = tick(sensor, json.dumps(state), instance)
    assert [r.run_config["ops"]["beam_eval"]["config"]["energy"] for r in changed.run_requests] == [
        22.0
    ]
