"""TextIOManager: text outputs (logs, reports, input decks) as UTF-8 files.

Each file starts with one header line, ``# lume {"inputs_hash": ..., "model": ..., ...}``
(model, version, inputs hash, run id); loading removes it, so the value round-trips.
"""

import json
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from lume_assets.io_managers.files import FileIOManager

HEADER = "# lume "


class TextIOManager(FileIOManager):
    """Stores `str` outputs as `<root_dir>/<asset key path>[/<partition>]/<id>.txt`."""

    serializer: str = Field(default="text", description="Registered serializer name.")

    def stamp(self, value: Any, stamp: Mapping[str, str]) -> Any:
        """Prefix a text value with the provenance header line."""
        if not isinstance(value, str):
            return value
        return HEADER + json.dumps(dict(stamp), sort_keys=True) + "\n" + value

    def unstamp(self, value: Any) -> Any:
        """Remove the provenance header line, if any."""
        if isinstance(value, str) and value.startswith(HEADER + "{"):
            return value.split("\n", 1)[1] if "\n" in value else ""
        return value
