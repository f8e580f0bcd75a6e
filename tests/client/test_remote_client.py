"""LumeClient in remote mode against a real `lume-assets dev` on a loopback port."""

from __future__ import annotations

import pytest

from lume_assets.automation.approval import ApprovalStore
from lume_assets.client import LumeClient
from lume_assets.demo.beam_model import BEAM_ENVELOPE
from lume_assets.errors import ApprovalError, ClientError, ModelInputError
from lume_assets.storage.result_stores import open_result_store
from lume_assets.storage.results import Result
from tests.dagit_server import DagitServer
from tests.servers import free_port


@pytest.fixture(scope="module")
def remote(dagit: DagitServer) -> LumeClient:
    """A client talking GraphQL to the session's Dagit, reading the store its runs write."""
    return LumeClient(dagit.url, results_url=dagit.results_url)


def test_remote_run_status_results(remote: LumeClient) -> None:
    steps: list[tuple[int, int]] = []
    result = remote.run(
        "beam_envelope", {"k_f": 2.3, "k_d": -2.2}, progress=lambda d, t: steps.append((d, t))
    )
    assert result.inputs["k_f"] == 2.3 and 0 < result.outputs["max_sigma"] < 20
    run = remote.status(result.provenance.run_id)
    assert run.status == "SUCCESS" and "beam_envelope/result" in run.assets
    assert run.tags["dagster/code_location"]
    assert steps[-1] == (1, 1)
    found = remote.results("beam_envelope", {"inputs.k_f": 2.3, "inputs.k_d": -2.2})
    assert [r.inputs_hash for r in found] == [result.inputs_hash]
    frame = remote.results("beam_envelope", dataframe=True)
    assert result.inputs_hash in set(frame["inputs_hash"])


def test_remote_models(remote: LumeClient) -> None:
    info = remote.model("beam_envelope")
    assert info.version == "1.0.0" and info.owners == ["beam-physics@lume.example"]
    assert info.group == "demo" and info.op_name == "beam_envelope"
    assert info.description == BEAM_ENVELOPE.description  # as the local client reports it
    k_f = next(v for v in info.inputs if v.name == "k_f")
    assert k_f.default == 2.0 and "[0, 10]" in k_f.allowed and k_f.units == "1/m^2"
    max_sigma = next(v for v in info.outputs if v.name == "max_sigma")
    assert max_sigma.units == "mm" and max_sigma.kind == "scalar"
    assert {"hdf5", "text", "sqlite"} <= set(info.kinds)


def local_message(inputs: object) -> str:
    """The one-line refusal the local client gives for `inputs` (no server involved)."""
    from lume_assets.api.catalog import variable_info
    from lume_assets.api.inputs import check_inputs
    from lume_assets.api.records import ModelInfo

    info = ModelInfo(
        name="beam_envelope",
        version="1",
        inputs=[variable_info(v) for v in BEAM_ENVELOPE.inputs],
        assets=[],
        result_asset="beam_envelope/result",
        op_name="beam_envelope",
    )
    with pytest.raises(ModelInputError) as caught:
        check_inputs(info, inputs)
    return str(caught.value)


def test_remote_errors_carry_the_servers_message(remote: LumeClient) -> None:
    runs_before = len(
        remote.backend.query("query { runsOrError { ... on Runs { results { runId } } } }")[
            "runsOrError"
        ]["results"]
    )
    bad_inputs = [
        {"k_f": "abc"},
        {"k_f": 99.0},
        {"k_f": True},  # once stored as 1.0 by a remote run
        {"k_f": None},  # once a raw ValidationError remotely, the default locally
        {"k_f": 1 + 2j},
        {"k_f": 10**400},
        {"k_f": float("nan")},
        {"nope": 1},
        [("k_f", 1.0)],
        {1: 2.0},
    ]
    for inputs in bad_inputs:
        with pytest.raises(ModelInputError) as caught:
            remote.submit("beam_envelope", inputs)  # type: ignore[arg-type]
        assert str(caught.value) == local_message(inputs), inputs
        assert "\n" not in str(caught.value)
    assert "did you mean 'k_f'?" in local_message({"kf": 1.0})
    runs = remote.backend.query("query { runsOrError { ... on Runs { results { runId } } } }")
    assert len(runs["runsOrError"]["results"]) == runs_before  # refused before any run
    with pytest.raises(ClientError, match="No model 'nope'"):
        remote.submit("nope", {})
    with pytest.raises(ClientError, match="Run 'no-such-run'"):
        remote.status("no-such-run")


def test_unreachable_server_is_a_client_error() -> None:
    client = LumeClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ClientError, match="Cannot reach the Dagster webserver"):
        client.models()


def test_remote_backfill_through_the_daemon(remote: LumeClient, dagit_backfill: dict) -> None:
    backfill = dagit_backfill
    backfill["thread"].join(timeout=600)
    assert not backfill["thread"].is_alive(), "the remote backfill did not end"
    assert "error" not in backfill, backfill.get("error")
    info = backfill["info"]
    assert info.succeeded and info.partitions == ["2.20"] and info.partitions_done == 1
    assert backfill["progress"][-1] == (1, 1)
    stored = remote.results("beam_envelope", {"provenance.partition_key": "2.20"}, limit=100)
    assert stored and {r.provenance.run_id for r in stored} <= set(info.run_ids)
    with pytest.raises(ClientError, match=r"no partition\(s\) \['0.00'\]"):
        remote.backfill("envelope_scan", ["0.00"])


def test_remote_approve_runs_the_servers_approval_job(
    remote: LumeClient, dagit: DagitServer
) -> None:
    # A result held at a gate of the server (as a gated run leaves it), in the server's stores.
    held = Result(model="beam_envelope", version="1.0.0", inputs={"k_f": 9.5}, published=False)
    with open_result_store(dagit.results_url) as store:
        store.put(held)
    approvals = ApprovalStore(f"sqlite:///{dagit.lume_home / 'registry.db'}")
    try:
        approvals.request("focus/grid", "feedc0de00000000", results=[held.inputs_hash])
    finally:
        approvals.dispose()
    (decision,) = remote.approve("feedc0de00000000", by="grace")
    assert decision.status == "approved" and decision.decided_by == "grace"
    assert decision.gate == "focus/grid" and decision.results == 1
    assert [r.inputs_hash for r in remote.results("beam_envelope", {"inputs.k_f": 9.5})] == [
        held.inputs_hash
    ]
    with pytest.raises(ApprovalError, match="No approval gate, run or approval id 'nothing'"):
        remote.approve("nothing", by="grace")
