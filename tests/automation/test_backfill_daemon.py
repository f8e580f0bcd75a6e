"""A real asset backfill over 100 partitions, run by Dagster's backfill daemon: ONE run."""

import logging
import time
from pathlib import Path

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration

from lume_assets.storage.result_stores import open_result_store


def test_backfill_daemon_runs_a_partition_range_as_one_run(lume_settings):
    from tests.automation import backfill_defs

    overrides = {  # submit straight to a launcher that executes the run in this process
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "DefaultRunCoordinator",
        },
        "run_launcher": {
            "module": "dagster._core.launcher.sync_in_memory_run_launcher",
            "class": "SyncInMemoryRunLauncher",
        },
    }
    target = ModuleTarget(
        module_name="tests.automation.backfill_defs",
        attribute="defs",
        working_directory=str(Path(__file__).parents[2]),
        location_name="backfill_test",
    )
    key = dg.AssetKey(["cheap", "result"])
    with (
        dg.instance_for_test(overrides=overrides) as instance,
        create_test_daemon_workspace_context(target, instance) as workspace,
    ):
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id="lumebf",
            asset_graph=backfill_defs.defs.resolve_asset_graph(),
            partition_names=backfill_defs.KEYS,
            asset_selection=[key],
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            all_partitions=False,
            title=None,
            description=None,
            run_config=None,
        )
        instance.add_backfill(backfill)
        for _ in range(5):
            list(execute_backfill_iteration(workspace, logging.getLogger("test")))
            if instance.get_backfill("lumebf").status != BulkActionStatus.REQUESTED:
                break
        runs = instance.get_runs()
        assert len(runs) == 1
        [run] = runs
        assert run.tags[ASSET_PARTITION_RANGE_START_TAG] == "p000"
        assert run.tags[ASSET_PARTITION_RANGE_END_TAG] == "p099"
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert instance.get_materialized_partitions(key) == set(backfill_defs.KEYS)
        assert instance.get_backfill("lumebf").status == BulkActionStatus.COMPLETED_SUCCESS
    store = open_result_store(lume_settings.resolved_results_url())
    assert store.count("cheap") == 100
