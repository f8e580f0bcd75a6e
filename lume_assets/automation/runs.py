"""Run a partitioned asset over a range of partitions as ONE run (what a single-run backfill
launches), on the local persistent instance — used by `lume-assets scan`."""

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from pydantic import BaseModel

from lume_assets.deploy.liveness import process_tags
from lume_assets.errors import ConfigError


class RangeRunReport(BaseModel):
    """The outcome of one range run."""

    success: bool
    run_id: str
    partitions: int
    first: str
    last: str


def run_partition_range(
    defs: dg.Definitions,
    asset_key: str,
    *,
    instance: dg.DagsterInstance,
    first: str | None = None,
    last: str | None = None,
) -> RangeRunReport:
    """Materialize `asset_key` of `defs` over partitions first..last (default all) in one run."""
    key = dg.AssetKey.from_user_string(asset_key)
    try:
        asset = defs.resolve_assets_def(key)
    except Exception:  # dagster raises several kinds for an unknown key
        known = sorted(
            k.to_user_string()
            for a in defs.assets or []
            if isinstance(a, dg.AssetsDefinition) and a.partitions_def is not None
            for k in a.keys
        )
        raise ConfigError(
            f"No asset {asset_key!r} in the code location; partitioned assets: "
            f"{', '.join(known) or 'none'}."
        ) from None
    if asset.partitions_def is None:
        raise ConfigError(f"Asset {asset_key!r} is not partitioned; materialize it in Dagit.")
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        keys = asset.partitions_def.get_partition_keys()
    if not keys:
        raise ConfigError(f"Asset {asset_key!r} has no partitions yet (deliver input files?).")
    start, end = first or keys[0], last or keys[-1]
    for name, value in (("--first", start), ("--last", end)):
        if value not in keys:
            raise ConfigError(f"{name} {value!r} is not a partition of {asset_key!r}.")
    count = keys.index(end) - keys.index(start) + 1
    if count < 1:
        raise ConfigError(f"--first {start!r} comes after --last {end!r}.")
    result = dg.materialize(
        [asset],
        instance=instance,  # the resolved asset carries the code location's resources
        tags={
            **process_tags(),  # a killed scan is failed by the next command (deploy.liveness)
            ASSET_PARTITION_RANGE_START_TAG: start,
            ASSET_PARTITION_RANGE_END_TAG: end,
        },
        raise_on_error=False,
    )
    return RangeRunReport(
        success=result.success, run_id=result.run_id, partitions=count, first=start, last=end
    )
