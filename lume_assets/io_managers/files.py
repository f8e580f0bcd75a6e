"""FileIOManager: a Dagster IO manager storing each output (or partition) as one file.

Unlike dagster's UPathIOManager it accepts an output spanning several partitions (a single-run
backfill): the asset returns a dict keyed by partition key and each partition gets its file.
"""

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from pydantic import Field

from lume_assets.errors import StorageError
from lume_assets.storage.files import FileRecord, read_file, write_file
from lume_assets.storage.filesystems import LocalFilesystem, MountedFilesystem
from lume_assets.storage.serializers import Serializer, get_serializer

Context = dg.OutputContext | dg.InputContext


def partition_file_stem(key: str) -> str:
    """Return a single, safe file-name component for a partition key ('/' and '%' quoted)."""
    stem = urllib.parse.quote(key, safe=" -_.=,+@:|")
    return "%2E" + stem[1:] if stem.startswith(".") else stem


class FileIOManager(dg.ConfigurableIOManager):
    """Stores each output as `<root_dir>/<asset key path>[/<partition>]<ext>` via a serializer.

    Definition metadata on an asset may set `serializer` (a registered name) and `path`
    (root-relative, without extension: a file, or for partitioned assets a directory).
    A run over several partitions returns a dict keyed by partition key (a dict whose keys
    are exactly the run's partition keys is always read that way, even for one partition);
    loading several partitions gives such a dict, loading one gives its value.
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

    def _output_context(self, context: Context) -> dg.OutputContext:
        if isinstance(context, dg.OutputContext):
            return context
        if context.upstream_output is None:
            raise StorageError("This input has no upstream output; the IO manager cannot load it.")
        return context.upstream_output

    def _serializer_for(self, context: Context) -> Serializer:
        meta = self._output_context(context).definition_metadata or {}
        return self.get_serializer(str(meta.get("serializer", self.serializer)))

    def _base_path(self, context: Context) -> str:
        out = self._output_context(context)
        meta = out.definition_metadata or {}
        if meta.get("path"):
            return str(meta["path"])
        if context.has_asset_key:
            return "/".join(context.asset_key.path)
        return "/".join(out.get_identifier())

    def file_path(self, context: Context, serializer: Serializer, key: str | None) -> str:
        """Return the root-relative path of the file of `context` (and partition `key`)."""
        base = self._base_path(context)
        if key is None:
            return base + serializer.extension
        return f"{base}/{partition_file_stem(key)}{serializer.extension}"

    def file_metadata(
        self, fs: LocalFilesystem, record: FileRecord, serializer: Serializer
    ) -> dict[str, Any]:
        """Extra metadata about one written file (HDF5 adds its datasets)."""
        return {}

    # -- Dagster IO manager protocol ---------------------------------------------------------
    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """Write `obj` (or one file per partition of it) and record path, bytes and sha256."""
        if obj is None and context.dagster_type.is_nothing:
            return
        fs = self.filesystem()
        serializer = self._serializer_for(context)
        items: Sequence[tuple[str | None, Any]]
        if context.has_asset_partitions:
            keys = list(context.asset_partition_keys)
            if isinstance(obj, Mapping) and set(obj.keys()) == set(keys):
                items = [(k, obj[k]) for k in keys]
            elif len(keys) == 1:
                items = [(keys[0], obj)]
            else:
                got = sorted(map(str, obj.keys())) if isinstance(obj, Mapping) else None
                raise StorageError(
                    f"Asset {context.asset_key.to_user_string()} ran for {len(keys)} partitions "
                    f"({keys[0]} ... {keys[-1]}) and must return a dict keyed by partition key "
                    f"with exactly those keys; got "
                    + (f"keys {got[:5]}" if got is not None else type(obj).__name__)
                    + "."
                )
        else:
            items = [(None, obj)]
        records = [
            (
                key,
                write_file(
                    fs,
                    self.file_path(context, serializer, key),
                    value,
                    serializer,
                    checksum=self.checksum,
                ),
            )
            for key, value in items
        ]
        context.add_output_metadata(self._metadata(fs, records, serializer))

    def _metadata(
        self,
        fs: LocalFilesystem,
        records: list[tuple[str | None, FileRecord]],
        serializer: Serializer,
    ) -> dict[str, Any]:
        if len(records) == 1:
            _, rec = records[0]
            meta: dict[str, Any] = {
                "path": dg.MetadataValue.path(rec.host_path),
                "bytes": dg.MetadataValue.int(rec.bytes),
                "serializer": dg.MetadataValue.text(rec.serializer),
            }
            if rec.sha256:
                meta["sha256"] = dg.MetadataValue.text(rec.sha256)
            meta.update(self.file_metadata(fs, rec, serializer))
            return meta
        schema = dg.TableSchema(
            columns=[
                dg.TableColumn("partition", "string"),
                dg.TableColumn("path", "string"),
                dg.TableColumn("bytes", "int"),
                dg.TableColumn("sha256", "string"),
            ]
        )
        rows = [
            dg.TableRecord(
                {
                    "partition": k or "",
                    "path": r.host_path,
                    "bytes": r.bytes,
                    "sha256": r.sha256 or "",
                }
            )
            for k, r in records
        ]
        first = records[0][1]
        meta = {
            "path": dg.MetadataValue.path(first.host_path.rsplit("/", 1)[0]),
            "bytes": dg.MetadataValue.int(sum(r.bytes for _, r in records)),
            "partitions": dg.MetadataValue.int(len(records)),
            "files": dg.MetadataValue.table(rows, schema=schema),
            "serializer": dg.MetadataValue.text(first.serializer),
        }
        meta.update(self.file_metadata(fs, first, serializer))
        return meta

    def load_input(self, context: dg.InputContext) -> Any:
        """Load the file (one partition: its value; several: a dict by partition key)."""
        fs = self.filesystem()
        serializer = self._serializer_for(context)
        if not context.has_asset_partitions:
            return read_file(fs, self.file_path(context, serializer, None), serializer)
        keys = list(context.asset_partition_keys)
        values = {
            k: read_file(fs, self.file_path(context, serializer, k), serializer) for k in keys
        }
        return values[keys[0]] if len(keys) == 1 else values
