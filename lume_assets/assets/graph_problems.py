"""Collect every problem of a graph file, each located (file:line, node), then raise them at once.

A scientist fixing a graph file sees all of its problems in one message, each as
`graph.yaml:12: node 'sim': <what is wrong>; <how to fix it>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lume_assets.assets.graph_yaml import line_of
from lume_assets.errors import GraphSpecError


def short(value: Any, limit: int = 60) -> str:
    """A short printable form of a value for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Problems:
    """The located problems found in one graph document."""

    def __init__(self, source: str, raw: Any) -> None:
        """Problems of the document `raw` read from `source` (a path or '<string>')."""
        self.source = source
        self.raw = raw
        self.items: list[tuple[int, str]] = []

    def node_label(self, index: int) -> str | None:
        """The name of node number `index` as written (or '#n' when it has none)."""
        nodes = self.raw.get("nodes") if isinstance(self.raw, dict) else None
        if not isinstance(nodes, list) or not 0 <= index < len(nodes):
            return None
        node = nodes[index]
        name = node.get("name") if isinstance(node, dict) else None
        return repr(name) if isinstance(name, str) else f"#{index + 1}"

    def add(self, path: Sequence[Any], message: str, line: int | None = None) -> None:
        """Record `message` at `path` in the document (node named from a ('nodes', i) path)."""
        where = line if line is not None else line_of(self.raw, path)
        prefix = ""
        if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int):
            label = self.node_label(path[1])
            if label is not None:
                prefix = f"node {label}: "
        self.items.append((where, prefix + message))

    def __bool__(self) -> bool:
        """Whether any problem was found."""
        return bool(self.items)

    def error(self) -> GraphSpecError:
        """One GraphSpecError listing every problem, in line order."""
        lines = [
            f"{self.source}:{line}: {msg}" if line else f"{self.source}: {msg}"
            for line, msg in sorted(self.items, key=_line)
        ]
        if len(lines) == 1:
            return GraphSpecError(f"invalid asset graph: {lines[0]}")
        listed = "\n".join(f"  {text}" for text in lines)
        return GraphSpecError(
            f"invalid asset graph {self.source} ({len(lines)} problems):\n{listed}"
        )

    def raise_if_any(self) -> None:
        """Raise the GraphSpecError if any problem was recorded."""
        if self.items:
            raise self.error()


def _line(item: tuple[int, str]) -> int:
    """Sort key: the line."""
    return item[0]


__all__ = ["Problems", "short"]
