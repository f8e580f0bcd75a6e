"""Provenance helpers shared by scan and partitioned model assets."""

import dagster as dg


def planned_file(
    context: dg.AssetExecutionContext,
    io_manager_key: str,
    asset_key: dg.AssetKey,
    partition_key: str | None,
) -> str | None:
    """Return the host path a file IO manager will write for one partition (provenance)."""
    iom = getattr(context.resources, io_manager_key, None)
    if iom is None or not hasattr(iom, "file_path"):
        return None
    out = dg.build_output_context(asset_key=asset_key, partition_key=partition_key)
    rel = iom.file_path(out, iom.get_serializer(iom.serializer), partition_key)
    return iom.filesystem().host_path(rel)
