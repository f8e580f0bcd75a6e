"""Provenance helpers shared by scan and partitioned model assets."""

from collections.abc import Sequence

import dagster as dg


def planned_files(
    context: dg.AssetExecutionContext,
    io_manager_key: str,
    asset_key: dg.AssetKey,
    partition_keys: Sequence[str],
) -> dict[str, str]:
    """Return {partition: host path} a file IO manager will write (for result provenance)."""
    iom = getattr(context.resources, io_manager_key, None)
    if iom is None or not hasattr(iom, "file_path") or not partition_keys:
        return {}
    # one output context per asset (building one is costly); the path differs only by key
    out = dg.build_output_context(asset_key=asset_key, partition_key=partition_keys[0])
    serializer = iom.get_serializer(iom.serializer)
    fs = iom.filesystem()
    return {k: fs.host_path(iom.file_path(out, serializer, k)) for k in partition_keys}
