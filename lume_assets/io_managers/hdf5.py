"""HDF5IOManager: arrays and nested structures as HDF5 files, datasets listed in Dagit."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import Field

from lume_assets.io_managers.files import STAMP_KEYS, FileIOManager
from lume_assets.storage.files import FileRecord
from lume_assets.storage.filesystems import LocalFilesystem
from lume_assets.storage.h5node import H5Node
from lume_assets.storage.serializers import Serializer, get_serializer

DATASET_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("name", "string"),
        dg.TableColumn("shape", "string"),
        dg.TableColumn("dtype", "string"),
    ]
)


class HDF5IOManager(FileIOManager):
    """Stores outputs as `<root_dir>/<asset key path>[/<partition>]/<id>.h5` (storage.hdf5);
    the model, version, inputs hash and run id are attributes of the top node."""

    serializer: str = Field(default="hdf5", description="Registered serializer name.")
    compression: str | None = Field(
        default=None, description='HDF5 filter for every dataset: "gzip", "lzf" or none.'
    )
    compression_opts: int | None = Field(default=None, description="Filter level (gzip: 0-9).")

    def get_serializer(self, name: str) -> Serializer:
        """Return the HDF5 serializer with this manager's compression, else the registered one."""
        from lume_assets.storage.hdf5 import HDF5Serializer  # h5py, when a file is written

        if name == HDF5Serializer.name:
            return HDF5Serializer(self.compression, self.compression_opts)
        return get_serializer(name)

    def stamp(self, value: Any, stamp: Mapping[str, str]) -> Any:
        """Attach the provenance stamp as HDF5 attributes of the top node."""
        if isinstance(value, H5Node):
            return H5Node(value.value, {**value.attrs, **stamp})
        return H5Node(value, dict(stamp))

    def unstamp(self, value: Any) -> Any:
        """Drop the provenance attributes (a plain array/dict comes back as written)."""
        if not isinstance(value, H5Node):
            return value
        attrs = {k: v for k, v in value.attrs.items() if k not in STAMP_KEYS}
        return H5Node(value.value, attrs) if attrs else value.value

    def file_metadata(
        self, fs: LocalFilesystem, record: FileRecord, serializer: Serializer
    ) -> dict[str, Any]:
        """List the datasets of the written file (name, shape, dtype) as a Dagit table."""
        from lume_assets.storage.hdf5 import HDF5Serializer, describe_file

        if not isinstance(serializer, HDF5Serializer):
            return {}
        rows = describe_file(fs.resolve(record.path))
        return {
            "datasets": dg.MetadataValue.table(
                [dg.TableRecord(r) for r in rows], schema=DATASET_SCHEMA
            )
        }
