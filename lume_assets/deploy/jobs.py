"""Asset jobs placed by their models' resources: the job a launcher runs for an asset group."""

from collections.abc import Sequence

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from lume_assets.deploy.placement import run_placement_tags


def group_assets(assets: Sequence[dg.AssetsDefinition], group: str) -> list[dg.AssetsDefinition]:
    """Return the unpartitioned assets of `group` (partitioned ones run per partition)."""
    return [
        a
        for a in assets
        if isinstance(a, dg.AssetsDefinition)
        and a.partitions_def is None
        and group in set(a.group_names_by_key.values())
    ]


def group_job(
    assets: Sequence[dg.AssetsDefinition], group: str, name: str
) -> UnresolvedAssetJobDefinition:
    """Return a job materializing the unpartitioned assets of `group`, tagged for placement.

    The run tags combine the `lume/resources` op tags of the selected assets (largest CPU and
    memory, one image), so the Docker and Kubernetes run launchers size the run's container.
    """
    selected = group_assets(assets, group)
    keys = [key for a in selected for key in a.keys if a.group_names_by_key.get(key) == group]
    tags = run_placement_tags(a.op.tags for a in selected)
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.assets(*keys),
        tags=tags,
        description=f"Materialize the assets of group {group!r} (launched by the run launcher).",
    )
