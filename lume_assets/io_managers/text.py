"""TextIOManager: text outputs (logs, reports, input decks) as UTF-8 files."""

from pydantic import Field

from lume_assets.io_managers.files import FileIOManager


class TextIOManager(FileIOManager):
    """Stores `str` outputs as `<root_dir>/<asset key path>[/<partition>].txt`."""

    serializer: str = Field(default="text", description="Registered serializer name.")
