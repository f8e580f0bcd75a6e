"""`lume-assets models list | show | register`: what models the code location serves."""

from __future__ import annotations

import importlib
from typing import Any

import click

from lume_assets.commands.common import echo_json, json_option, make_client, remote_option, table
from lume_assets.errors import ClientError


@click.group()
def models() -> None:
    """List, describe and register models."""


@models.command("list")
@remote_option
@json_option
def list_models(remote: str | None, as_json: bool) -> None:
    """List the models the code location serves and those installed packages announce."""
    from lume_assets.commands.model_sources import listed_models

    found, problem = listed_models(remote)
    if problem:  # the location failed (e.g. a broken graph file): say so, list what we can
        click.echo(f"warning: code location not loaded: {problem}", err=True)
    if as_json:
        echo_json([m.model_dump() for m in found])
        return
    rows = [
        [m.name, m.version, m.source, m.project or "", ", ".join(m.owners), m.description]
        for m in found
    ]
    click.echo(table(rows, ["model", "version", "source", "project", "owners", "description"]))


@models.command("show")
@click.argument("name")
@remote_option
@json_option
def show_model(name: str, remote: str | None, as_json: bool) -> None:
    """Describe model NAME: its inputs (defaults, units, ranges), outputs and assets."""
    info = make_client(remote).model(name)
    if as_json:
        echo_json(info.model_dump())
        return
    click.echo(f"{info.name} v{info.version} — {info.description}")
    click.echo(f"project: {info.project or '-'}   owners: {', '.join(info.owners) or '-'}")
    click.echo(f"kinds: {', '.join(info.kinds) or '-'}   assets: {', '.join(info.assets)}")
    rows = [[v.name, v.kind, v.default, v.units, v.allowed, v.description] for v in info.inputs]
    click.echo("\ninputs:")
    click.echo(table(rows, ["name", "kind", "default", "units", "allowed", "description"]))
    if info.outputs:
        rows = [[v.name, v.kind, v.units, v.allowed, v.description] for v in info.outputs]
        click.echo("\noutputs:")
        click.echo(table(rows, ["name", "kind", "units", "allowed", "description"]))


def load_specs(targets: tuple[str, ...]) -> list[Any]:
    """ModelSpecs named 'module:attribute' (a spec or a list of specs) or by registered name;
    default: every model the location serves and every installed one."""
    from lume_assets.commands.model_sources import specs_to_register
    from lume_assets.models.model import ModelSpec

    if not targets or all(":" not in t for t in targets):
        return specs_to_register(targets)
    specs: list[Any] = []
    for target in targets:
        module_name, sep, attr = target.partition(":")
        if not sep or not module_name or not attr:
            raise click.BadParameter(
                f"{target!r} is not MODULE:ATTRIBUTE (e.g. my_models.models:MY_MODEL)",
                param_hint="SPEC",
            )
        try:
            value = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ClientError(f"Cannot load {target!r}: {exc}") from None
        found = value if isinstance(value, list | tuple) else [value]
        for spec in found:
            if not isinstance(spec, ModelSpec):
                raise ClientError(f"{target!r} is a {type(spec).__name__}, not a ModelSpec.")
        specs.extend(found)
    return specs


@models.command("register")
@click.argument("specs", nargs=-1, metavar="[NAME | MODULE:ATTRIBUTE]...")
@json_option
def register(specs: tuple[str, ...], as_json: bool) -> None:
    """Register model deployments in the registry (default: every model of the location and
    every installed one). Running a model registers it too."""
    from lume_assets.models.registry import ModelRegistry
    from lume_assets.settings import get_settings

    loaded = load_specs(specs)
    registry = ModelRegistry(get_settings().resolved_registry_url())
    try:
        done = [registry.register_spec(spec) for spec in loaded]
    finally:
        registry.close()
    if as_json:
        echo_json([d.model_dump() for d in done])
        return
    rows = [[d.model_name, d.version, d.id, d.source_sha256[:12], d.import_path] for d in done]
    click.echo(table(rows, ["model", "version", "deployment", "sha256", "import path"]))
