"""Schedules from ScheduleSpec, evaluated with build_schedule_context in a time zone."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from lume_assets.automation.schedules import (
    SCHEDULED_FOR_TAG,
    ScheduleSpec,
    build_schedule,
    parse_schedule_specs,
)
from lume_assets.errors import ConfigError


@dg.asset
def surrogate_validation() -> float:
    """Stand-in for the surrogate re-validation asset."""
    return 0.01


DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="America/Los_Angeles")


@dg.asset(partitions_def=DAILY)
def daily_scan(context: dg.AssetExecutionContext) -> str:
    """A time-window partitioned asset: one scan per local day."""
    return context.partition_key


def test_nightly_tick_in_a_time_zone_tags_local_time_and_carries_run_config():
    spec = ScheduleSpec(
        name="nightly_revalidation",
        cron="0 2 * * *",
        timezone="Europe/Berlin",
        run_config={"ops": {"surrogate_validation": {}}},
        tags={"purpose": "revalidation"},
    )
    schedule = build_schedule(spec, [surrogate_validation])
    assert schedule.execution_timezone == "Europe/Berlin"
    # 01:00 UTC on a winter day is 02:00 in Berlin (UTC+1)
    tick_time = datetime(2026, 1, 15, 1, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick_time
        ) as context:
            [request] = schedule.evaluate_tick(context).run_requests
    assert request.tags[SCHEDULED_FOR_TAG] == "2026-01-15T02:00:00+01:00"
    assert request.tags["purpose"] == "revalidation"
    assert request.run_key == "nightly_revalidation:2026-01-15T02:00:00+01:00"


def test_ticks_follow_local_clock_across_daylight_saving():
    schedule = build_schedule(
        ScheduleSpec(name="nightly", cron="0 2 * * *", timezone="Europe/Berlin"),
        [surrogate_validation],
    )
    start = datetime(2026, 3, 27, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    ticks = cron_string_iterator(start, schedule.cron_schedule, schedule.execution_timezone)
    local = [next(ticks) for _ in range(4)]
    # 02:00 local is 01:00 UTC before the 29 March 2026 switch and 00:00 UTC after; on the
    # switch day 02:00 does not exist and the tick runs at 03:00 local
    assert [t.hour for t in local] == [2, 2, 3, 2]
    assert [t.astimezone(UTC).hour for t in local] == [1, 1, 1, 0]


def test_time_window_target_runs_the_day_that_just_closed_in_its_zone():
    schedule = build_schedule(
        ScheduleSpec(name="daily_scan_schedule", cron="30 0 * * *", timezone="America/Los_Angeles"),
        [daily_scan],
    )
    tick_time = datetime(2026, 2, 10, 8, 30, tzinfo=UTC)  # 00:30 on 10 Feb in LA
    defs = dg.Definitions(assets=[daily_scan], schedules=[schedule])
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick_time,
            repository_def=defs.get_repository_def(),
        ) as context:
            [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-02-09"
    result = dg.materialize([daily_scan], partition_key=request.partition_key)
    assert result.output_for_node("daily_scan") == "2026-02-09"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "s", "cron": "every night"}, "not a valid cron expression"),
        ({"name": "s", "cron": "0 2 * * *", "timezone": "Mars/Olympus"}, "not a known IANA"),
        ({"name": "s", "cron": "0 2 * * *", "when": "now"}, "when"),
    ],
)
def test_bad_schedule_entries_are_refused_with_the_field(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_schedule_specs([entry])


CHUNKS = dg.StaticPartitionsDefinition(["c0", "c1", "c2"])


@dg.asset(partitions_def=CHUNKS, backfill_policy=dg.BackfillPolicy.single_run())
def chunked(context: dg.AssetExecutionContext) -> None:
    """A statically partitioned asset, like a chunked scan."""
    context.add_output_metadata({"keys": ",".join(context.partition_keys)})


def test_static_partitioned_target_runs_every_partition_in_one_run():
    schedule = build_schedule(ScheduleSpec(name="nightly_scan", cron="0 3 * * *"), [chunked])
    defs = dg.Definitions(assets=[chunked], schedules=[schedule])
    tick_time = datetime(2026, 2, 10, 3, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick_time,
            repository_def=defs.get_repository_def(),
        ) as context:
            [request] = schedule.evaluate_tick(context).run_requests
        result = dg.materialize([chunked], instance=instance, tags=request.tags)
    assert result.success
    [mat] = result.asset_materializations_for_node("chunked")[:1]
    assert len(result.asset_materializations_for_node("chunked")) == 3
    assert mat.metadata["keys"].value == "c0,c1,c2"


def test_dynamic_partitioned_target_cannot_be_scheduled():
    @dg.asset(partitions_def=dg.DynamicPartitionsDefinition(name="d"))
    def dyn() -> None:
        return None

    with pytest.raises(ConfigError, match="DynamicPartitionsDefinition"):
        build_schedule(ScheduleSpec(name="s", cron="0 3 * * *"), [dyn])


GRAPH_YAML = """name: chain
nodes:
  - name: sim
    model: beam_envelope
schedules:
  - {name: nightly_chain, cron: "0 2 * * *", timezone: Europe/Berlin}
"""


def test_a_graph_file_declares_its_schedules_and_bad_ones_name_the_line():
    from lume_assets.assets.graph_parse import parse_graph
    from lume_assets.errors import GraphSpecError

    spec, _ = parse_graph(GRAPH_YAML, "chain.yaml")
    [nightly] = spec.schedules
    assert (nightly.name, nightly.timezone) == ("nightly_chain", "Europe/Berlin")
    with pytest.raises(
        GraphSpecError, match=r"chain\.yaml:6: schedules\.0\.timezone.*Mars/Olympus"
    ):
        parse_graph(GRAPH_YAML.replace("Europe/Berlin", "Mars/Olympus"), "chain.yaml")


def test_graph_schedules_run_every_asset_of_the_graph():
    from lume_assets.automation.schedules import graph_schedules

    [schedule] = graph_schedules(
        [ScheduleSpec(name="nightly_chain", cron="0 2 * * *", timezone="Europe/Berlin")],
        [surrogate_validation, chunked],
    )
    defs = dg.Definitions(assets=[surrogate_validation, chunked], schedules=[schedule])
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 7, 1, 0, 0, tzinfo=UTC),
            repository_def=defs.get_repository_def(),
        ) as context,
    ):
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.tags[SCHEDULED_FOR_TAG] == "2026-07-01T02:00:00+02:00"
    job = defs.resolve_job_def(schedule.job_name)
    assert set(job.asset_layer.selected_asset_keys) == {surrogate_validation.key, chunked.key}
