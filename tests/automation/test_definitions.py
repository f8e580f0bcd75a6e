"""The code location registers the demo sensor, schedule, scan and approval job, and they work."""

import dagster as dg

from tests.automation.conftest import deliver


def test_code_location_registers_automation_and_the_sensor_feeds_the_model(lume_settings):
    from lume_assets.demo.definitions import build_definitions

    defs = build_definitions()  # for this test's LUME_HOME
    repo = defs.get_repository_def()
    assert repo.get_sensor_def("beam_inbox_sensor").minimum_interval_seconds == 30
    schedule = repo.get_schedule_def("nightly_focus_scan")
    assert schedule.execution_timezone == "America/Los_Angeles"
    assert repo.get_job("approve_results")
    sensor = repo.get_sensor_def("beam_inbox_sensor")
    inbox = lume_settings.home / "inbox"
    deliver(inbox, "quad_scan_01.yaml", "k_f: 2.2\nk_d: -2.1\n")
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(instance=instance, repository_def=repo) as context,
    ):
        data = sensor.evaluate_tick(context)
        [request] = data.run_requests
        assert request.partition_key == "quad_scan_01.yaml"
        for req in data.dynamic_partitions_requests:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        asset = defs.resolve_assets_def(dg.AssetKey(["inbox", "beam_envelope", "result"]))
        result = dg.materialize(
            [asset],
            instance=instance,
            partition_key=request.partition_key,
            run_config=request.run_config,
            tags=request.tags,
        )
    assert result.success
    stored = result.output_for_node("inbox__beam_envelope", "result")
    assert stored.inputs["k_f"] == 2.2 and stored.provenance.partition_key == "quad_scan_01.yaml"
    assert (lume_settings.resolved_files_root() / "inbox/beam_envelope/report").is_dir()
