"""A result store that cannot be reached fails the step once, within its configured timeout:
`StoreUnavailableError` already waited its budget, so the model's RetryPolicy does not retry it
(issue 15, item 13: a dead Mongo port took 23 s instead of the configured timeout)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from lume_assets.assets.model_assets import model_asset
from lume_assets.io_managers.results import ResultIOManager, ResultStoreResource
from lume_assets.models.model import ModelSpec, RetrySpec
from lume_assets.models.variables import ScalarVariable
from tests.servers import free_port


def test_dead_mongo_port_fails_once_and_is_not_retried(resources, instance) -> None:
    calls: list[float] = []

    def model(x: float) -> dict[str, Any]:
        calls.append(x)
        return {"y": 2 * x}

    spec = ModelSpec(
        name="outage_probe",
        version="1",
        inputs=[ScalarVariable(name="x", default=1.0, value_range=(0, 10))],
        outputs=[ScalarVariable(name="y")],
        function=model,
        retry=RetrySpec(max_retries=3, delay=0),
    )
    asset = model_asset(spec)
    assert asset.op.retry_policy == dg.RetryPolicy(max_retries=3)
    port = free_port()  # nothing listens here
    dead = dict(resources)
    store = ResultStoreResource(
        url=f"mongodb://127.0.0.1:{port}/outage", project="outage", timeout_s=0.5
    )
    dead["result_store"] = store
    dead["result_io_manager"] = ResultIOManager(result_store=store)
    result = dg.materialize([asset], resources=dead, instance=instance, raise_on_error=False)
    assert not result.success
    kinds = [e.event_type for e in result.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in kinds  # not retried
    assert kinds.count(dg.DagsterEventType.STEP_FAILURE) == 1
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.step_failure_data.user_failure_data.description
    assert f"127.0.0.1:{port}" in message and "not reachable within 0.5 s" in message
    assert calls == []  # the model never ran without a store
