"""The demo's automation: an inbox sensor, a 10,000-point gated scan, a nightly schedule.

- `inbox/beam_envelope/*` — the beam-envelope model partitioned by the input files delivered to
  the inbox (LUME_INBOX_DIR, default <home>/inbox); `beam_inbox_sensor` adds one partition and
  requests one run per new or changed file (stopped by default: start it in Dagit).
- `focus/grid` — a 10,000-point scan of the cheap focus model in 10 chunks, one run for all of
  them, held for approval: `lume-assets scan focus/grid`, then `lume-assets approve focus/grid`.
- `nightly_focus_scan` — re-runs the whole scan at 02:00 Los Angeles time.
- `approve_results` — the approval job for Dagit's launchpad.
"""

import dagster as dg

from lume_assets.assets.model_assets import model_asset
from lume_assets.assets.scan_asset import scan_asset
from lume_assets.assets.scan_grid import LinSpace, ScanSpec
from lume_assets.automation.gate import approve_results_job
from lume_assets.automation.model_partitions import inbox_inputs, model_inputs_validator
from lume_assets.automation.schedules import ScheduleSpec, build_schedule
from lume_assets.automation.sensors import InboxSensorSpec, build_inbox_sensor
from lume_assets.demo.beam_model import BEAM_ENVELOPE
from lume_assets.demo.focus_model import FOCUS

GROUP = "demo_automation"
INBOX_SENSOR = InboxSensorSpec(name="beam_inbox_sensor", minimum_interval_seconds=30)
FOCUS_SCAN = ScanSpec(
    name="grid",
    axes={
        "k": LinSpace(start=0.5, stop=5.0, num=100),
        "drift": LinSpace(start=0.5, stop=3.0, num=100),
    },
    chunk_size=1000,
    plot_output="sigma",  # the overview heatmap: sigma over (k, drift)
)
NIGHTLY = ScheduleSpec(
    name="nightly_focus_scan",
    cron="0 2 * * *",
    timezone="America/Los_Angeles",
    description="Nightly re-validation: re-run the whole focus scan (one run) at 02:00 LA time.",
)


def build_demo_automation() -> dict[str, list]:
    """Return the demo's automation definitions (assets, sensors, schedules, jobs)."""
    inbox_model = model_asset(
        BEAM_ENVELOPE,
        partitions_def=dg.DynamicPartitionsDefinition(name="beam_envelope_inputs"),
        partition_inputs=inbox_inputs(INBOX_SENSOR.resolved_inbox),
        key_prefix="inbox",
        group_name=GROUP,
    )
    scan = scan_asset(FOCUS, FOCUS_SCAN, group_name=GROUP, requires_approval=True)
    sensor = build_inbox_sensor(
        INBOX_SENSOR,
        target=inbox_model,
        inputs_model=model_inputs_validator(BEAM_ENVELOPE),
    )
    return {
        "assets": [inbox_model, scan],
        "sensors": [sensor],
        "schedules": [build_schedule(NIGHTLY, [scan])],
        "jobs": [approve_results_job],
    }
