"""Commands that installed packages add to `lume-assets` (entry point group
`lume_assets.commands`: name -> 'module:click_command'), loaded only when invoked."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import click

ENTRY_POINT_GROUP = "lume_assets.commands"


class PluginCommand(click.Command):
    """A placeholder that imports the real command from its entry point on first use."""

    def __init__(self, entry_point: importlib.metadata.EntryPoint) -> None:
        """Name the command after the entry point; defer the import."""
        super().__init__(entry_point.name, help=f"(from {entry_point.value})")
        self.entry_point = entry_point
        self._loaded: click.Command | None = None

    def load(self) -> click.Command:
        """The real click command."""
        if self._loaded is None:
            command = self.entry_point.load()
            if not isinstance(command, click.Command):
                raise click.ClickException(
                    f"entry point {self.entry_point.value!r} is not a click command"
                )
            self._loaded = command
        return self._loaded

    def get_short_help_str(self, limit: int = 45) -> str:
        """The real command's help, imported for the listing."""
        return self.load().get_short_help_str(limit)

    def make_context(self, info_name: str | None, args: list[str], **extra: Any) -> click.Context:
        """Parse with the real command."""
        return self.load().make_context(info_name, args, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the real command."""
        return self.load().invoke(ctx)

    def get_help(self, ctx: click.Context) -> str:
        """The real command's help."""
        return self.load().get_help(ctx)


def add_plugin_commands(group: click.Group) -> None:
    """Add every installed package's command not already in `group`."""
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in group.commands:
            group.add_command(PluginCommand(ep))
