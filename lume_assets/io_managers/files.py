"""FileIOManager: a Dagster IO manager storing each output (or partition) as its own file.

Files are content-addressed (`lume_assets.storage.locator`): a model output lives at
`<asset key>[/<partition>]/<inputs_hash[:16]><ext>`, so a run with other inputs never writes
over another result's file. The asset may write a result's file itself through
`write_result_file` (it gets the `FileRecord`, path and sha256, for the result record) and yield
that record; the manager then only describes it. Any other value is written here, named by the
`inputs_hash` output metadata when present, else by the run. Every file carries the model, its
version, the inputs hash and the run id (HDF5 attributes, a text header).

`load_input` reads exactly the file the upstream materialization recorded (its `lume/files`
metadata), never a path guessed from the asset key. Unlike dagster's UPathIOManager it accepts an
output spanning several partitions (a single-run backfill): a dict keyed by partition key.
Each partition's materialization event then records only its own file (path, bytes, sha256,
`lume/files`); what the events share (folder, partition count, total bytes) is O(1), so a
1,000-chunk scan does not copy a 1,000-row file table into each of its 1,000 events.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from pydantic import Field

from lume_assets.errors import LumeError, StorageError
from lume_assets.storage.files import FileRecord, read_file, write_file
from lume_assets.storage.filesystems import LocalFilesystem, MountedFilesystem
from lume_assets.storage.locator import partition_file_stem, result_file_path, run_file_id
from lume_assets.storage.serializers import Serializer, get_serializer

__all__ = [
    "FILES_KEY",
    "STAMP_KEYS",
    "FileIOManager",
    "definition_metadata",
    "partition_file_stem",
]

Context = dg.OutputContext | dg.InputContext
FILES_KEY = "lume/files"  # materialization metadata: {partition or "": root-relative path}
STAMP_KEYS = ("model", "version", "inputs_hash", "run_id")


def definition_metadata(context: Context) -> Mapping[str, Any]:
    """The definition metadata of the asset an output context writes or an input context reads."""
    out = context if isinstance(context, dg.OutputContext) else context.upstream_output
    return (out.definition_metadata if out is not None else None) or {}


class FileIOManager(dg.ConfigurableIOManager):
    """Stores each output as a content-addressed file via a serializer (module docstring).

    Definition metadata on an asset may set `serializer` (a registered name) and `path`
    (root-relative folder used instead of the asset key path). A run over several partitions
    returns a dict keyed by partition key (a dict whose keys are exactly the run's partition
    keys is always read that way, even for one partition); loading several partitions gives
    such a dict, loading one gives its value.
    """

    root_dir: str = Field(description="Directory for the files (the host path when mounted).")
    mount_alias: str | None = Field(
        default=None,
        description="In a container: where root_dir is mounted. Files are written there and "
        "recorded with their host path under root_dir.",
    )
    serializer: str = Field(default="text", description="Registered serializer name.")
    checksum: bool = Field(
        default=True,
        description="Record the sha256 of every file (costs one pass over the bytes).",
    )

    # -- helpers -------------------------------------------------------------------------------
    def filesystem(self) -> LocalFilesystem:
        """Return the filesystem files are written through."""
        if self.mount_alias:
            return MountedFilesystem(mount_path=self.root_dir, mount_alias=self.mount_alias)
        return LocalFilesystem(self.root_dir)

    def get_serializer(self, name: str) -> Serializer:
        """Return the serializer registered as `name` (subclasses may configure it)."""
        return get_serializer(name)

    def stamp(self, value: Any, stamp: Mapping[str, str]) -> Any:
        """Return `value` carrying the provenance `stamp` in its file (subclasses: attrs/header)."""
        return value

    def unstamp(self, value: Any) -> Any:
        """Return a loaded value without the provenance stamp `stamp` added."""
        return value

    def stored(self, record: FileRecord | None) -> FileRecord | None:
        """Return `record` if its file is still under this manager's root, else None."""
        if record is None or not record.path or not record.sha256:
            return None
        try:
            return record if self.filesystem().resolve(record.path).is_file() else None
        except LumeError:
            return None

    def write_result_file(
        self,
        asset_path: Sequence[str],
        value: Any,
        *,
        file_id: str,
        partition: str | None = None,
        stamp: Mapping[str, str] | None = None,
        serializer: str | None = None,
    ) -> FileRecord:
        """Write `value` atomically at the locator's path of (asset, partition, file id)."""
        chosen = self.get_serializer(serializer or self.serializer)
        rel = result_file_path(asset_path, file_id, chosen.extension, partition)
        body = self.stamp(value, stamp) if stamp else value
        return write_file(self.filesystem(), rel, body, chosen, checksum=self.checksum)

    def read_record(self, record: FileRecord) -> Any:
        """Load the value stored in the file `record` describes (stamp removed)."""
        fs = self.filesystem()
        chosen = self.get_serializer(record.serializer or self.serializer)
        return self.unstamp(read_file(fs, record.path, chosen))

    def _asset_path(self, context: dg.OutputContext) -> list[str]:
        meta = definition_metadata(context)
        if meta.get("path"):
            return [str(meta["path"])]  # the filesystem refuses a path escaping its root
        if context.has_asset_key:
            return list(context.asset_key.path)
        return list(context.get_identifier())

    def file_metadata(
        self, fs: LocalFilesystem, record: FileRecord, serializer: Serializer
    ) -> dict[str, Any]:
        """Extra metadata about one written file (HDF5 adds its datasets)."""
        return {}

    # -- Dagster IO manager protocol ---------------------------------------------------------
    def _split(self, context: dg.OutputContext, obj: Any) -> Sequence[tuple[str | None, Any]]:
        """Return (partition key or None, value) pairs of an output."""
        if not context.has_asset_partitions:
            return [(None, obj)]
        keys = list(context.asset_partition_keys)
        if isinstance(obj, Mapping) and set(obj.keys()) == set(keys):
            return [(k, obj[k]) for k in keys]
        if len(keys) == 1:
            return [(keys[0], obj)]
        got = sorted(map(str, obj.keys())) if isinstance(obj, Mapping) else None
        raise StorageError(
            f"Asset {context.asset_key.to_user_string()} ran for {len(keys)} partitions "
            f"({keys[0]} ... {keys[-1]}) and must return a dict keyed by partition key "
            "with exactly those keys; got "
            + (f"keys {got[:5]}" if got is not None else type(obj).__name__)
            + "."
        )

    def _file_id(self, context: dg.OutputContext, key: str | None) -> str:
        """The inputs hash the asset attached to the output, else an id of this run."""
        meta = context.output_metadata or {}
        one = meta.get("inputs_hash")
        many = meta.get("inputs_hashes")
        if key is not None and many is not None:
            found = getattr(many, "value", many).get(key)
            if found:
                return str(found)
        if one is not None:
            return str(getattr(one, "value", one))
        return run_file_id(context.run_id, key)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """Write `obj` (or one file per partition of it) and record path, bytes and sha256."""
        if obj is None and context.dagster_type.is_nothing:
            return
        meta = definition_metadata(context)
        name = str(meta.get("serializer", self.serializer))
        base = {
            "model": str(meta.get("lume/model", "")),
            "version": str(meta.get("lume/version", "")),
        }
        records: list[tuple[str | None, FileRecord]] = []
        for key, value in self._split(context, obj):
            if isinstance(value, FileRecord):  # written by the asset through this manager
                records.append((key, value))
                continue
            file_id = self._file_id(context, key)
            stamp = {k: v for k, v in base.items() if v}
            stamp.update(inputs_hash=file_id, run_id=context.run_id)
            records.append(
                (
                    key,
                    self.write_result_file(
                        self._asset_path(context),
                        value,
                        file_id=file_id,
                        partition=key,
                        stamp=stamp,
                        serializer=name,
                    ),
                )
            )
        meta = self._metadata(records, self.get_serializer(name))
        if len(records) > 1:
            meta.update(self._partition_metadata(context, records))
        context.add_output_metadata(meta)

    def _metadata(
        self, records: list[tuple[str | None, FileRecord]], serializer: Serializer
    ) -> dict[str, Any]:
        """Metadata shared by every event of the output: O(1) in the number of partitions."""
        fs = self.filesystem()
        if len(records) == 1:
            located = dg.MetadataValue.json({k or "": r.path for k, r in records})
            _, rec = records[0]
            meta: dict[str, Any] = {
                "path": dg.MetadataValue.path(rec.host_path),
                "bytes": dg.MetadataValue.int(rec.bytes),
                "serializer": dg.MetadataValue.text(rec.serializer),
                FILES_KEY: located,
            }
            if rec.sha256:
                meta["sha256"] = dg.MetadataValue.text(rec.sha256)
            meta.update(self.file_metadata(fs, rec, serializer))
            return meta
        first = records[0][1]
        meta = {
            "path": dg.MetadataValue.path(first.host_path.rsplit("/", 2)[0]),
            "total_bytes": dg.MetadataValue.int(sum(r.bytes for _, r in records)),
            "partitions": dg.MetadataValue.int(len(records)),
            "serializer": dg.MetadataValue.text(first.serializer),
        }
        meta.update(self.file_metadata(fs, first, serializer))
        return meta

    def _partition_metadata(
        self, context: dg.OutputContext, records: list[tuple[str | None, FileRecord]]
    ) -> dict[str, Any]:
        """Give each partition's event its own file (path, bytes, sha256): O(1) per event.

        Returns what could not be scoped to a partition (an output context built outside a
        run): then the partition → path map goes into the shared metadata.
        """
        try:
            step = context.step_context
        except dg.DagsterInvariantViolationError:
            return {FILES_KEY: dg.MetadataValue.json({k or "": r.path for k, r in records})}
        for key, rec in records:
            own: dict[str, Any] = {
                "path": dg.MetadataValue.path(rec.host_path),
                "bytes": dg.MetadataValue.int(rec.bytes),
                FILES_KEY: dg.MetadataValue.json({key or "": rec.path}),
            }
            if rec.sha256:
                own["sha256"] = dg.MetadataValue.text(rec.sha256)
            step.add_asset_metadata(own, asset_key=context.asset_key, partition_key=key)
        return {}

    def _materialized_path(self, context: dg.InputContext, key: str | None) -> str:
        """The file the upstream's latest materialization (of partition `key`) recorded."""
        where = context.asset_key.to_user_string() + (f" partition {key}" if key else "")
        try:
            flt = dg.AssetRecordsFilter(
                asset_key=context.asset_key, asset_partitions=[key] if key is not None else None
            )
            found = context.instance.fetch_materializations(flt, limit=1).records
        except dg.DagsterInvariantViolationError:
            found = []
        event = found[0].asset_materialization if found else None
        located = event.metadata.get(FILES_KEY) if event is not None else None
        path = (getattr(located, "value", None) or {}).get(key or "")
        if not path:
            raise StorageError(
                f"No materialization of {where} recorded a file; materialize it first."
            )
        return str(path)

    def load_input(self, context: dg.InputContext) -> Any:
        """Load the upstream file (one partition: its value; several: a dict by partition key)."""
        fs = self.filesystem()
        name = str(definition_metadata(context).get("serializer", self.serializer))
        serializer = self.get_serializer(name)

        def load(key: str | None) -> Any:
            if context.has_asset_key:
                path = self._materialized_path(context, key)
            else:  # an op output: written by this run under its identifier
                out = context.upstream_output
                path = result_file_path(
                    out.get_identifier(), run_file_id(out.run_id), serializer.extension
                )
            return self.unstamp(read_file(fs, path, serializer))

        if not context.has_asset_partitions:
            return load(None)
        keys = list(context.asset_partition_keys)
        values = {k: load(k) for k in keys}
        return values[keys[0]] if len(keys) == 1 else values
