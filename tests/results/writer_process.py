"""Entry point of the processes that write one inputs hash concurrently (spawned by a test)."""

from __future__ import annotations

import sys

from lume_assets.storage.result_stores import open_result_store
from lume_assets.storage.results import Result


def write(url: str, files_root: str, writer: int, rounds: int) -> None:
    """Open the store in this process and write the shared result `rounds` times."""
    store = open_result_store(url, project="proj", files_root=files_root)
    try:
        for j in range(rounds):
            store.put(
                Result(
                    model="sim",
                    version="1.0",
                    inputs={"i": 1, "x": 0.5},
                    outputs={"writer": writer, "round": j},
                )
            )
    finally:
        store.close()


if __name__ == "__main__":
    write(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
