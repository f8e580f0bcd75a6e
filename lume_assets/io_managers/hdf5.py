"""HDF5IOManager: arrays and nested structures as HDF5 files, datasets listed in Dagit."""

from typing import Any

import dagster as dg
from pydantic import Field

from lume_assets.io_managers.files import FileIOManager
from lume_assets.storage.files import FileRecord
from lume_assets.storage.filesystems import LocalFilesystem
from lume_assets.storage.hdf5 import HDF5Serializer, describe_file
from lume_assets.storage.serializers import Serializer, get_serializer

DATASET_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("name", "string"),
        dg.TableColumn("shape", "string"),
        dg.TableColumn("dtype", "string"),
    ]
)


class HDF5IOManager(FileIOManager):
    """Stores outputs as `<root_dir>/<asset key path>[/<partition>].h5` (see storage.hdf5)."""

    serializer: str = Field(default="hdf5", description="Registered serializer name.")
    compression: str | None = Field(
        default=None, description='HDF5 filter for every dataset: "gzip", "lzf" or none.'
    )
    compression_opts: int | None = Field(default=None, description="Filter level (gzip: 0-9).")

    def get_serializer(self, name: str) -> Serializer:
        """Return the HDF5 serializer with this manager's compression, else the registered one."""
        if name == HDF5Serializer.name:
            return HDF5Serializer(self.compression, self.compression_opts)
        return get_serializer(name)

    def file_metadata(
        self, fs: LocalFilesystem, record: FileRecord, serializer: Serializer
    ) -> dict[str, Any]:
        """List the datasets of the written file (name, shape, dtype) as a Dagit table."""
        if not isinstance(serializer, HDF5Serializer):
            return {}
        rows = describe_file(fs.resolve(record.path))
        return {
            "datasets": dg.MetadataValue.table(
                [dg.TableRecord(r) for r in rows], schema=DATASET_SCHEMA
            )
        }
