"""The result IO manager through Dagster's `materialize`, on the SQLite and MongoDB stores."""

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from lume_assets.errors import ResultNotFoundError, ResultStoreError
from lume_assets.io_managers.results import ResultIOManager, ResultStoreResource
from lume_assets.storage.results import Result


class SimConfig(dg.Config):
    """Run config of the test asset: its model inputs."""

    x: float = 1.0
    n: int = 3


@dg.asset(io_manager_key="result_io_manager", code_version="2.0")
def sim(config: SimConfig) -> Result:
    """A model asset returning a full Result."""
    return Result(
        model="sim",
        version="2.0",
        inputs={"x": config.x, "n": config.n},
        outputs={"energy": config.x * 2, "trace": np.linspace(0, 1, config.n)},
    )


@dg.asset(
    io_manager_key="result_io_manager",
    metadata={"lume/model": "post", "lume/version": "1.1"},
)
def post(sim: Result) -> dict:
    """A dict-returning asset reading the upstream Result."""
    return {"double": sim.outputs["energy"] * 2, "points": int(sim.outputs["trace"].size)}


parts = dg.StaticPartitionsDefinition(["a", "b", "c"])


@dg.asset(io_manager_key="result_io_manager", partitions_def=parts, code_version="3")
def scan(context: dg.AssetExecutionContext) -> dict:
    """A partitioned dict-returning asset."""
    return {"value": ord(context.partition_key)}


@dg.asset(
    io_manager_key="result_io_manager",
    partitions_def=parts,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def scan_vectorized(context: dg.AssetExecutionContext) -> dict:
    """A single-run backfill asset: one output for several partitions."""
    return {k: {"value": ord(k) * 10} for k in context.partition_keys}


@dg.asset(io_manager_key="result_io_manager")
def scan_summary(scan_vectorized: dict) -> dict:
    """Reads every partition of the upstream at once."""
    return {"total": sum(r.outputs["value"] for r in scan_vectorized.values())}


@pytest.fixture(params=["sqlite", "mongodb"])
def resources(
    request: pytest.FixtureRequest, store_url: Callable[[str], str], tmp_path: Path
) -> dict:
    """The result store resource and IO manager on a fresh database."""
    store = ResultStoreResource(
        url=store_url(request.param), project="io", files_root=str(tmp_path / "files")
    )
    return {"result_store": store, "result_io_manager": ResultIOManager(result_store=store)}


def test_assets_store_results_with_provenance_and_downstream_loads_them(resources: dict) -> None:
    run = dg.materialize(
        [sim, post],
        resources=resources,
        run_config=dg.RunConfig({"sim": SimConfig(x=1.5, n=4)}),
    )
    assert run.success
    store = resources["result_store"].get_store()
    stored = store.find("sim")
    assert len(stored) == 1
    r = stored[0]
    assert r.inputs == {"x": 1.5, "n": 4}
    assert r.provenance.run_id == run.run_id and r.provenance.asset_key == "sim"
    np.testing.assert_array_equal(r.outputs["trace"], np.linspace(0, 1, 4))
    downstream = store.find("post")
    assert [d.outputs for d in downstream] == [{"double": 6.0, "points": 4}]
    assert downstream[0].version == "1.1" and downstream[0].provenance.asset_key == "post"

    mats = {
        m.asset_key.to_user_string(): m.metadata
        for m in run.asset_materializations_for_node("sim")
        + run.asset_materializations_for_node("post")
    }
    meta = mats["sim"]
    assert meta["inputs_hash"].value == r.inputs_hash
    assert meta["store"].value == store.kind
    assert meta["collection"].value == store.location
    assert meta["document_id"].value == store.document_id(r.inputs_hash)
    assert meta["outputs"].value == {"energy": 3.0, "trace": "array float64 [4]"}
    # a second run with the same inputs updates the same document
    again = dg.materialize(
        [sim], resources=resources, run_config=dg.RunConfig({"sim": SimConfig(x=1.5, n=4)})
    )
    assert again.success and store.count("sim") == 1
    assert store.get(r.inputs_hash).provenance.run_id == again.run_id


def test_partitions_and_single_run_backfills_store_one_result_per_partition(
    resources: dict,
) -> None:
    store = resources["result_store"].get_store()
    instance = dg.DagsterInstance.ephemeral()
    for key in ("a", "c"):
        assert dg.materialize(
            [scan], partition_key=key, resources=resources, instance=instance
        ).success
    got = {r.provenance.partition_key: r for r in store.find("scan")}
    assert {k: r.outputs["value"] for k, r in got.items()} == {"a": 97, "c": 99}
    assert got["a"].inputs == {"partition_key": "a"}
    assert got["a"].version == "3" and got["a"].model == "scan"

    run = dg.materialize(
        [scan_vectorized, scan_summary],
        resources=resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": "a",
            "dagster/asset_partition_range_end": "c",
        },
        selection=[scan_vectorized],
    )
    assert run.success
    stored = store.find("scan_vectorized", sort="provenance.partition_key")
    assert [(r.provenance.partition_key, r.outputs["value"]) for r in stored] == [
        ("a", 970),
        ("b", 980),
        ("c", 990),
    ]
    summary = dg.materialize(
        [scan_vectorized, scan_summary],
        resources=resources,
        instance=instance,
        selection=[scan_summary],
    )
    assert summary.success
    assert store.find("scan_summary")[0].outputs == {"total": 2940}


def test_wrong_return_types_and_missing_upstream_fail_with_clear_errors(resources: dict) -> None:
    @dg.asset(io_manager_key="result_io_manager")
    def bad() -> int:
        return 3

    with pytest.raises(ResultStoreError, match="returned a int"):
        dg.materialize([bad], resources=resources)

    with pytest.raises(ResultNotFoundError, match="No stored result for asset sim"):
        dg.materialize([sim, post], resources=resources, selection=[post])


def test_definitions_register_the_result_resources(lume_home: Path) -> None:
    from lume_assets.serving import build_resources

    res = build_resources()
    assert isinstance(res["result_store"], ResultStoreResource)
    assert isinstance(res["result_io_manager"], ResultIOManager)
    assert res["result_store"].url == f"sqlite:///{lume_home / 'results.db'}"
    run = dg.materialize([sim], resources=res)
    assert run.success
    assert (lume_home / "results.db").exists()
    assert res["result_store"].get_store().count("sim") == 1


def test_a_cache_hit_output_is_not_rewritten_but_a_fresh_one_is(resources: dict) -> None:
    manager: ResultIOManager = resources["result_io_manager"]
    store = manager.result_store.get_store()
    stored = Result(model="m", version="1", inputs={"x": 1.0}, outputs={"y": 1.0})
    doc_id = store.put(stored)
    # Same inputs hash, different outputs: only a write could make the store see y == 2.
    changed = stored.model_copy(update={"outputs": {"y": 2.0}})

    def handle(metadata: dict) -> dict:
        context = dg.build_output_context(
            asset_key=dg.AssetKey(["m", "result"]), output_metadata=metadata
        )
        manager.handle_output(context, changed)
        return {k: getattr(v, "value", v) for k, v in context.consume_logged_metadata().items()}

    meta = handle({"cache_hit": dg.MetadataValue.bool(True)})
    assert store.find_one(stored.inputs_hash).outputs["y"] == 1.0  # not rewritten
    assert meta["document_id"] == doc_id and meta["inputs_hash"] == stored.inputs_hash

    handle({"cache_hit": dg.MetadataValue.bool(False)})
    assert store.find_one(stored.inputs_hash).outputs["y"] == 2.0  # written
