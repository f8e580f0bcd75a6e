"""The demo materializes on a PostgreSQL-backed Dagster instance (dagster-postgres, real server)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster._core.test_utils import instance_for_test

from lume_assets.demo.definitions import build_definitions
from lume_assets.deploy.launch import DEMO_JOB
from tests.servers import PostgresServer


def test_demo_job_materializes_on_a_postgres_instance(
    lume_home: Path, postgres_server: PostgresServer
) -> None:
    """Runs, events and asset materializations of the demo are stored in PostgreSQL."""
    defs = build_definitions()  # resources for this test's LUME_HOME
    url = postgres_server.database_url("dagster_pg_instance_test")
    with instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        job = defs.resolve_job_def(DEMO_JOB)
        result = job.execute_in_process(instance=instance)
        assert result.success
        demo_keys = set(job.asset_layer.selected_asset_keys)
        assert demo_keys
        for key in demo_keys:
            event = instance.get_latest_materialization_event(key)
            assert event is not None and event.run_id == result.run_id
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
        # The demo's files went to this test's LUME_HOME, not to a path left over elsewhere.
        file_paths = [
            Path(meta["path"].value)
            for key in demo_keys
            if "path"
            in (
                meta := instance.get_latest_materialization_event(
                    key
                ).asset_materialization.metadata
            )
        ]
        assert file_paths  # the demo writes HDF5/text files
        for recorded in file_paths:
            assert recorded.is_relative_to(lume_home), recorded

    # A second instance on the same database sees the same history: it really is in PostgreSQL.
    with instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as again:
        assert again.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
