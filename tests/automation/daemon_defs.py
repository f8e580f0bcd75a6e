"""A code location for the sensor-daemon test: the inbox sensor over LUME_INBOX_DIR."""

import dagster as dg

from lume_assets.automation.sensors import InboxSensorSpec, build_inbox_sensor
from tests.automation.conftest import BeamInputs, beam_eval

# max_recent=0: the cursor keeps no content hashes, so a re-delivered file reaches Dagster and
# only the run_key stops it from running twice.
inbox_sensor = build_inbox_sensor(
    InboxSensorSpec(name="beam_inbox", minimum_interval_seconds=1, running=True, max_recent=0),
    target=beam_eval,
    inputs_model=BeamInputs,
)

defs = dg.Definitions(assets=[beam_eval], sensors=[inbox_sensor])
