"""YAML reading that remembers where everything was written (for error messages).

Mappings load as `LineDict` and sequences as `LineList`: plain dict/list subclasses that carry the
1-based line of the collection and of each key / item. `line_of(data, path)` finds the line of a
value by its path (e.g. `("nodes", 2, "map", "k_f")`). Anchors/aliases and duplicate keys are
refused: a graph file says everything once, explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml


class LineDict(dict):
    """A mapping read from YAML, with the line of the mapping and of each key."""

    line: int = 0
    key_lines: dict[Any, int]


class LineList(list):
    """A sequence read from YAML, with the line of the sequence and of each item."""

    line: int = 0
    item_lines: list[int]


class YamlLocationError(Exception):
    """A YAML construct we refuse, with the 1-based line where it appears."""

    def __init__(self, line: int, message: str) -> None:
        """Record the line and the message."""
        super().__init__(message)
        self.line = line
        self.message = message


class _LineLoader(yaml.SafeLoader):
    """SafeLoader building LineDict/LineList, refusing aliases and duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401 - yaml API
        """Refuse aliases (`*name`): they hide structure and allow exponential blow-up."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlLocationError(
                event.start_mark.line + 1,
                f"alias '*{event.anchor}' is not allowed in a graph file; write the value out.",
            )
        return super().compose_node(parent, index)


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Any:
    """Build a LineDict, recording key lines; refuse unhashable and duplicate keys."""
    data = LineDict()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    yield data
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == "tag:yaml.org,2002:merge":
            raise YamlLocationError(line, "merge keys ('<<') are not allowed in a graph file.")
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise YamlLocationError(
                line, "a mapping key must be a plain name, not a list or mapping."
            ) from None
        if key in data:
            raise YamlLocationError(
                line,
                f"key {key!r} appears twice in the same mapping (first on line "
                f"{data.key_lines[key]}); keep one.",
            )
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = line


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> Any:
    """Build a LineList, recording item lines."""
    data = LineList()
    data.line = node.start_mark.line + 1
    data.item_lines = []
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.item_lines.append(item.start_mark.line + 1)


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


class _FastLineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same constructors on libyaml's parser (several times faster): used for texts
    without anchors or aliases, which only `_LineLoader` can refuse with their line."""


_FastLineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_FastLineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _loader(text: str) -> type:
    """The loader for `text`: libyaml's unless the text could hold an anchor or alias."""
    return _LineLoader if "&" in text or "*" in text else _FastLineLoader


def load_yaml(text: str) -> Any:
    """Parse YAML text into LineDict/LineList/scalars (yaml.YAMLError or YamlLocationError)."""
    return yaml.load(text, Loader=_loader(text))  # noqa: S506 - SafeLoader subclass


def load_yaml_all(text: str) -> list[Any]:
    """Every document of a YAML stream (`---` separated), like `load_yaml` for each."""
    return list(yaml.load_all(text, Loader=_loader(text)))  # noqa: S506 - SafeLoader subclass


def line_of(data: Any, path: Sequence[Any]) -> int:
    """Line of the deepest element of `path` inside `data` that carries one (0 if none)."""
    line = getattr(data, "line", 0)
    node = data
    for step in path:
        if isinstance(node, LineDict) and step in node:
            line = node.key_lines.get(step, line)
            node = node[step]
        elif isinstance(node, LineList) and isinstance(step, int) and 0 <= step < len(node):
            line = node.item_lines[step]
            node = node[step]
        else:
            break
    return line


__all__ = ["LineDict", "LineList", "YamlLocationError", "line_of", "load_yaml", "load_yaml_all"]
