"""LumeClient in local mode, end to end on the demo: run, cache, status, results, backfill."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import h5py
import pytest

from lume_assets.client import LumeClient
from lume_assets.errors import (
    ClientError,
    ModelError,
    ModelInputError,
    QueryError,
    RunFailedError,
)
from lume_assets.storage.results import Result


@pytest.fixture(scope="module")
def client(module_home: Path) -> Iterator[LumeClient]:
    """A local client on the project's definitions and the module's homes."""
    with LumeClient() as c:
        yield c


@pytest.fixture(scope="module")
def first(client: LumeClient) -> Result:
    """One real run of the beam model, shared by the tests that read it."""
    return client.run("beam_envelope", {"k_f": 2.2, "k_d": -2.1})


def test_run_waits_and_returns_the_stored_result(client: LumeClient, first: Result) -> None:
    assert first.model == "beam_envelope" and first.version == "1.0.0"
    assert first.inputs["k_f"] == 2.2 and first.inputs["k_d"] == -2.1
    assert 0 < first.outputs["max_sigma"] < 20
    assert client.store.get(first.inputs_hash).outputs["max_sigma"] == first.outputs["max_sigma"]
    run = client.status(first.provenance.run_id)
    assert run.succeeded and "beam_envelope/result" in run.assets
    assert run.steps_done == run.steps_total == 1
    with h5py.File(first.provenance.files["sigma_x"].host_path) as f:  # the HDF5 output is on disk
        assert f["value"].shape == first.outputs["sigma_x"].shape


def test_same_inputs_reuse_the_cached_result(client: LumeClient, first: Result) -> None:
    run_id = client.submit("beam_envelope", {"k_f": 2.2, "k_d": -2.1})
    assert client.wait(run_id).succeeded
    again = client.result_of(run_id, "beam_envelope")
    assert again.inputs_hash == first.inputs_hash
    assert again.provenance.run_id == first.provenance.run_id  # evaluated once, reused
    meta = client.backend.materialization_metadata(run_id, "beam_envelope/result")
    assert meta["cache_hit"] is True


def test_submit_returns_at_once_and_status_follows_the_run(client: LumeClient) -> None:
    run_id = client.submit("beam_envelope", {"k_f": 2.35})
    assert client.status(run_id).status in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")
    seen: list[tuple[int, int]] = []
    info = client.wait(run_id, progress=lambda done, total: seen.append((done, total)))
    assert info.status == "SUCCESS" and info.ended is not None
    assert seen[-1] == (1, 1)


def test_bad_input_fails_before_any_run(client: LumeClient) -> None:
    runs_before = len(client.backend.instance.get_runs())
    with pytest.raises(ModelInputError, match=r"'k_f' = 50 is outside .*\[0, 10\]"):
        client.run("beam_envelope", {"k_f": 50})
    with pytest.raises(ModelInputError, match="unknown input"):
        client.run("beam_envelope", {"k_ff": 1.0})
    # issue 15 #11/#13: each refused in one line naming the input, never a raw error or a run
    for inputs, expected in [
        ({"k_f": None}, "input 'k_f' is null"),  # once the default, silently
        ({"k_f": True}, "input 'k_f' = True is not a number (got bool)"),
        ({"k_f": 1 + 2j}, "input 'k_f' = (1+2j) is not a number (got complex)"),
        ({"k_f": 10**400}, "input 'k_f' = <int of ~401 digits> is too large for a float"),
        ({"k_f": "\udcff"}, "input 'k_f' = '\\udcff' is not a number (got str)"),
        ([("k_f", 1.0)], "must be a dict of name: value, not list"),  # once submitted
        ({"k_f": 2.0, 1: 2.0}, "input names of model 'beam_envelope' must be strings; got int"),
    ]:
        with pytest.raises(ModelInputError) as caught:
            client.submit("beam_envelope", inputs)  # type: ignore[arg-type]
        assert expected in str(caught.value) and "\n" not in str(caught.value), inputs
    assert len(client.backend.instance.get_runs()) == runs_before
    with pytest.raises(ClientError, match="No model 'nope'.*beam_envelope"):
        client.submit("nope", {})
    with pytest.raises(ClientError, match="No run 'not-a-run'"):
        client.status("not-a-run")


def test_text_that_is_not_unicode_is_refused_in_one_line(client: LumeClient) -> None:
    """Issue 15 #11: lone surrogates (undecodable bytes) give a QueryError naming the field,
    never a UnicodeEncodeError from the database driver."""
    calls = [
        (lambda: client.results("\udcff"), "model name"),
        (lambda: client.results("beam_envelope", {"inputs.k_f": "\udcff"}), "inputs.k_f $eq"),
        (lambda: client.results("beam_envelope", {"inputs.\udcff": 1}), "query path"),
        (lambda: client.status("\udcff"), "run id"),
    ]
    for call, what in calls:
        with pytest.raises(QueryError, match="lone surrogate") as caught:
            call()
        assert str(caught.value).startswith(what) and "\n" not in str(caught.value)


def test_results_as_list_and_dataframe(client: LumeClient, first: Result) -> None:
    client.run("beam_envelope", {"k_f": 2.35})  # its own second result (a cache hit if present)
    found = client.results("beam_envelope", {"inputs.k_d": {"$lte": -2.05}})
    assert [r.inputs_hash for r in found] == [first.inputs_hash]
    frame = client.results("beam_envelope", {"inputs.k_f": {"$gte": 2.1}}, dataframe=True)
    assert set(frame["inputs.k_f"]) >= {2.2, 2.35}
    assert "outputs.max_sigma" in frame.columns


def test_models_describe_the_demo(client: LumeClient) -> None:
    (info,) = [m for m in client.models() if m.name == "beam_envelope"]
    assert info.version == "1.0.0" and info.project == "demo"
    assert info.owners == ["beam-physics@lume.example"]
    k_f = next(v for v in info.inputs if v.name == "k_f")
    assert k_f.default == 2.0 and k_f.units == "1/m^2" and "[0, 10]" in k_f.allowed
    assert {v.name for v in info.outputs} >= {"max_sigma", "sigma_x", "report"}
    assert "beam_envelope/result" in info.assets
    assert {"hdf5", "text", "sqlite"} <= set(info.kinds)  # where each output lives


def test_backfill_runs_a_contiguous_range_as_one_run(client: LumeClient) -> None:
    seen: list[tuple[int, int]] = []
    info = client.backfill(
        "envelope_scan", ["2.10", "2.00"], progress=lambda d, t: seen.append((d, t))
    )
    assert info.succeeded and info.partitions == ["2.00", "2.10"]
    assert len(info.run_ids) == 1  # single-run backfill policy
    assert seen[-1][0] == seen[-1][1]
    stored = client.results("beam_envelope", {"provenance.partition_key": "2.10"}, limit=1000)
    assert stored and all(r.inputs["k_f"] == 2.1 for r in stored)
    with pytest.raises(ClientError, match=r"no partition\(s\) \['9.99'\]"):
        client.backfill("envelope_scan", ["9.99"])
    with pytest.raises(ClientError, match="not partitioned"):
        client.backfill("beam_envelope/result")


def test_failed_run_raises_run_failed_with_the_models_message(module_home: Path) -> None:
    from lume_assets.assets.model_assets import model_asset
    from lume_assets.models.model import ModelSpec
    from lume_assets.models.variables import ScalarVariable
    from lume_assets.serving import build_resources

    def unstable(k: float) -> dict:
        raise ModelError(f"lattice unstable at k={k}")  # a class outside builtins

    spec = ModelSpec(
        name="unstable",
        version="1",
        inputs=[ScalarVariable(name="k", default=1.0, value_range=(0.0, 5.0))],
        outputs=[ScalarVariable(name="y")],
        function=unstable,
    )
    defs = dg.Definitions(assets=[model_asset(spec)], resources=build_resources())
    with LumeClient(definitions=defs, models=[spec]) as client:
        with pytest.raises(RunFailedError, match="lattice unstable at k=3") as caught:
            client.run("unstable", {"k": 3})
        assert caught.value.run.status == "FAILURE"
        # the class is named once, short (issue 15 #11: 'ModelError: lume_assets.errors.Mo...')
        assert str(caught.value).endswith(" failed: ModelError: lattice unstable at k=3.0")
        error = client.status(caught.value.run.run_id).error
        assert error == "ModelError: lattice unstable at k=3.0"
        failed = client.status(caught.value.run.run_id)
        assert failed.steps_total == 1 and failed.steps_done == 0  # a failed step is not done
        seen: list[tuple[int, int]] = []
        run_id = client.submit("unstable", {"k": 2})
        info = client.backend.wait(run_id, progress=lambda d, t: seen.append((d, t)))
        assert info.status == "FAILURE" and seen
        assert all(done < total for done, total in seen), seen  # never shows 1/1


@pytest.mark.parametrize(
    "partitions",
    [None, ["line-00000", "line-00002"]],
    ids=["one-run", "a-run-per-partition"],
)
def test_a_failed_scan_never_reports_itself_complete(
    module_home: Path, partitions: list[str] | None
) -> None:
    """Issue 15 #13: a scan whose model fails mid-way ends below its total, never at N/N."""
    from lume_assets.assets.scan_asset import scan_asset
    from lume_assets.assets.scan_grid import ScanSpec
    from lume_assets.models.model import ModelSpec
    from lume_assets.models.variables import ScalarVariable
    from lume_assets.serving import build_resources

    def fragile(x: float) -> dict:
        if x >= 3:
            raise RuntimeError(f"lattice unstable at x={x}")
        return {"y": 2 * x}

    spec = ModelSpec(
        name="fragile",
        version="1",
        inputs=[ScalarVariable(name="x", default=0.0, value_range=(0.0, 10.0))],
        outputs=[ScalarVariable(name="y")],
        function=fragile,
    )
    scan = ScanSpec(name="line", axes={"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]}, chunk_size=2)
    defs = dg.Definitions(assets=[scan_asset(spec, scan)], resources=build_resources())
    seen: list[tuple[int, int]] = []
    with LumeClient(definitions=defs, models=[spec]) as client:
        with pytest.raises(RunFailedError, match="lattice unstable at x=[34]"):
            client.backfill("fragile/line", partitions, progress=lambda d, t: seen.append((d, t)))
    assert seen, "the scan reported no progress"
    assert all(done < total for done, total in seen), seen  # never 'complete'


def test_gated_scan_is_published_by_approve(client: LumeClient) -> None:
    info = client.backfill("focus/grid", ["grid-00000"])  # a scan held for approval
    assert info.succeeded
    held = client.results("focus", limit=5000, include_unpublished=True)
    assert len(held) == 1000 and not client.results("focus", limit=1)
    (decision,) = client.approve("focus/grid", by="ada")
    assert decision.status == "approved" and decision.decided_by == "ada"
    assert decision.results == 1000 and decision.run_id == info.run_ids[0]
    assert len(client.results("focus", limit=5000)) == 1000
