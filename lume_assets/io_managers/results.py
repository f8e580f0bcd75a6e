"""Dagster adapters over the result store: the `result_store` resource and `result_io_manager`.

An asset returning a `Result` (or a dict of outputs, turned into a Result) is written to the
configured store with its provenance (run id, asset key, partition key); Dagit shows the inputs
hash, store kind, collection/table, document id and the key outputs. A downstream asset loading
it gets the `Result` back (a dict partition key -> Result when it reads several partitions).
An output spanning several partitions (a single-run backfill) is a dict partition key ->
Result or outputs, one stored result per partition.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import numpy as np
from pydantic import PrivateAttr

from lume_assets.errors import ResultNotFoundError, ResultStoreError
from lume_assets.io_managers.files import definition_metadata
from lume_assets.storage.encoding import DEFAULT_ARRAY_THRESHOLD
from lume_assets.storage.result_stores import ResultStore, open_result_store
from lume_assets.storage.results import Result

MODEL_KEY = "lume/model"  # definition metadata naming the model of a dict-returning asset
PROJECT_KEY = "lume/project"  # definition metadata: the store project of the asset's results
VERSION_KEY = "lume/version"
MAX_METADATA_OUTPUTS = 20
RECORD_UNCHANGED = "lume/record_unchanged"  # output metadata: the stored record is this result


class ResultStoreResource(dg.ConfigurableResource):
    """Configuration of the result store (MongoDB or SQL); `get_store()` opens it once.

    `get_store(project)` opens the same store for another project (a graph's `project:`), once.
    """

    url: str
    project: str = "default"
    files_root: str | None = None
    array_threshold: int = DEFAULT_ARRAY_THRESHOLD
    timeout_s: float = 5.0
    database: str | None = None
    large_arrays: str | None = None
    mongo_password: str | None = None  # pass dg.EnvVar("LUME_MONGO_PASSWORD"), never a literal
    postgres_password: str | None = None  # dg.EnvVar("LUME_POSTGRES_PASSWORD"): SQL URLs

    _stores: dict[str, ResultStore] = PrivateAttr(default_factory=dict)

    def get_store(self, project: str | None = None) -> ResultStore:
        """Return the opened store of `project` (default: the configured one), opened once."""
        name = project or self.project
        if name not in self._stores:
            self._stores[name] = open_result_store(**self.store_options(name))
        return self._stores[name]

    def store_options(self, project: str | None = None) -> dict[str, Any]:
        """The `open_result_store` arguments of `project`'s store (e.g. for a writer process)."""
        return {
            "url": self.url,
            "project": project or self.project,
            "files_root": self.files_root,
            "array_threshold": self.array_threshold,
            "timeout_s": self.timeout_s,
            "database": self.database,
            "large_arrays": self.large_arrays,
            "password": self.mongo_password
            if self.url.startswith("mongodb")
            else self.postgres_password,
        }

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Close the stores' connections when the run (or step process) ends."""
        stores, self._stores = self._stores, {}
        for store in stores.values():
            store.close()


def results_project(context: dg.OutputContext | dg.InputContext) -> str | None:
    """The store project the asset's definition metadata names (None: the configured one)."""
    value = definition_metadata(context).get(PROJECT_KEY)
    return str(getattr(value, "value", value)) if value else None


def _asset_path(context: dg.OutputContext | dg.InputContext) -> str:
    """Return the asset key as 'a/b/c'."""
    return "/".join(context.asset_key.path)


def _run_config_inputs(context: dg.OutputContext) -> dict[str, Any]:
    """Return the op's run config as a dict (the inputs of a dict-returning asset)."""
    try:
        config = context.step_context.op_config
    except Exception:  # no step context (direct IO manager use): no config
        return {}
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    return {"config": config}


def _code_version(context: dg.OutputContext) -> str | None:
    """Return the asset's code_version (the model version of a dict-returning asset)."""
    try:
        assets_def = context.step_context.assets_def
    except Exception:  # no step context (direct IO manager use)
        return context.version
    if assets_def is None:
        return context.version
    return assets_def.code_versions_by_key.get(context.asset_key) or context.version


def _describe(value: Any) -> Any:
    """Return a small JSON-able view of an output for Dagit metadata."""
    if isinstance(value, np.ndarray):
        return f"array {value.dtype} {list(value.shape)}"
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return type(value).__name__


class ResultIOManager(dg.ConfigurableIOManager):
    """Stores asset outputs as results in the `result_store` and loads them back."""

    result_store: dg.ResourceDependency[ResultStoreResource]
    load_unpublished: bool = False

    # -- output ------------------------------------------------------------------------------
    def _to_result(self, context: dg.OutputContext, obj: Any, partition: str | None) -> Result:
        """Return `obj` as a Result with provenance filled from the context."""
        prov = {"run_id": context.run_id, "asset_key": _asset_path(context)}
        if partition is not None:
            prov["partition_key"] = partition
        if isinstance(obj, Result):
            missing = {k: v for k, v in prov.items() if getattr(obj.provenance, k) is None}
            if not missing:
                return obj
            return obj.model_copy(update={"provenance": obj.provenance.model_copy(update=missing)})
        if isinstance(obj, Mapping):
            meta = context.definition_metadata or {}
            inputs = _run_config_inputs(context)
            if partition is not None:
                inputs.setdefault("partition_key", partition)
            return Result(
                model=str(meta.get(MODEL_KEY) or _asset_path(context)),
                version=str(meta.get(VERSION_KEY) or _code_version(context) or "0"),
                inputs=inputs,
                outputs=dict(obj),
                provenance=prov,
            )
        raise ResultStoreError(
            f"Asset {_asset_path(context)} returned a {type(obj).__name__}; the result IO "
            "manager stores a lume_assets Result or a dict of outputs. Return one of those, or "
            "use another io_manager_key for this asset."
        )

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """Store the output and attach the result's metadata to the materialization."""
        store = self.result_store.get_store(results_project(context))
        keys = context.asset_partition_keys if context.has_asset_partitions else []
        if len(keys) > 1:
            if not isinstance(obj, Mapping) or set(obj) != set(keys):
                raise ResultStoreError(
                    f"Asset {_asset_path(context)} ran for {len(keys)} partitions at once; "
                    "return a dict mapping each partition key to its Result or outputs "
                    f"(expected keys {sorted(keys)[:5]}...)."
                )
            results = [self._to_result(context, obj[k], k) for k in keys]
            store.put_many(results)
            context.add_output_metadata(
                {
                    "store": store.kind,
                    "collection": store.location,
                    "partitions": len(results),
                    "inputs_hashes": dg.MetadataValue.json(
                        {k: r.inputs_hash for k, r in zip(keys, results, strict=True)}
                    ),
                }
            )
            return
        result = self._to_result(context, obj, keys[0] if keys else None)
        doc_id = store.document_id(result.inputs_hash) if _is_cache_hit(context) else None
        if doc_id is None:  # new, or a cache hit whose record is gone: write it
            doc_id = store.put(result)
        outputs = dict(list(result.outputs.items())[:MAX_METADATA_OUTPUTS])
        context.add_output_metadata(
            {
                "inputs_hash": result.inputs_hash,
                "store": store.kind,
                "project": store.project,
                "collection": store.location,
                "document_id": doc_id,
                "model": f"{result.model} {result.version}",
                "published": result.published,
                "outputs": dg.MetadataValue.json({k: _describe(v) for k, v in outputs.items()}),
            }
        )

    # -- input -------------------------------------------------------------------------------
    def _latest_hash(self, context: dg.InputContext, partition: str | None) -> str | None:
        """Return the inputs hash recorded by the latest materialization of the upstream."""
        instance = getattr(context, "instance", None)
        if instance is None:
            return None
        try:
            key = context.asset_key
            flt = dg.AssetRecordsFilter(
                asset_key=key, asset_partitions=[partition] if partition is not None else None
            )
            records = instance.fetch_materializations(flt, limit=1).records
        except Exception:  # no instance bound (direct use): fall back to the store
            return None
        if not records or records[0].asset_materialization is None:
            return None
        value = records[0].asset_materialization.metadata.get("inputs_hash")
        hashes = records[0].asset_materialization.metadata.get("inputs_hashes")
        if value is not None:
            return str(value.value)
        if hashes is not None and partition is not None:
            return hashes.value.get(partition)
        return None

    def _load_one(self, context: dg.InputContext, partition: str | None) -> Result:
        """Return the stored result of the upstream asset (one partition, or unpartitioned)."""
        store = self.result_store.get_store(results_project(context))
        inputs_hash = self._latest_hash(context, partition)
        if inputs_hash is not None:
            found = store.find_one(inputs_hash, include_unpublished=self.load_unpublished)
        else:  # no materialization record: the newest result this asset stored
            flt: dict[str, Any] = {"provenance.asset_key": _asset_path(context)}
            if partition is not None:
                flt["provenance.partition_key"] = partition
            hits = store.find(
                filter=flt,
                sort=[("created", -1)],
                limit=1,
                include_unpublished=self.load_unpublished,
            )
            found = hits[0] if hits else None
        if found is None:
            where = f" partition {partition}" if partition is not None else ""
            raise ResultNotFoundError(
                f"No stored result for asset {_asset_path(context)}{where} in {store.kind} "
                f"{store.location} (or it is held for approval); materialize it first, or "
                "publish it."
            )
        return found

    def load_input(self, context: dg.InputContext) -> Any:
        """Return the upstream Result (a dict partition -> Result for several partitions)."""
        if context.has_asset_partitions:
            keys = context.asset_partition_keys
            if len(keys) == 1:
                return self._load_one(context, keys[0])
            return {k: self._load_one(context, k) for k in keys}
        return self._load_one(context, None)


def _is_cache_hit(context: dg.OutputContext) -> bool:
    """Whether the output is a result reused unchanged from this store (`cache_hit` metadata).

    `model_asset` marks such outputs; the record is already stored, so it is not rewritten
    (a hit whose files had to be written again is not unchanged: it is stored again).
    """
    meta = context.output_metadata
    flag = meta.get(RECORD_UNCHANGED, meta.get("cache_hit"))
    return bool(getattr(flag, "value", flag))
