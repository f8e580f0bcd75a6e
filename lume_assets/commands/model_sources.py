"""What `models list` and `models register` see: the location's models and installed ones.

Installed models (entry point group `lume_assets.models`) are listed from their entry points
alone, so a code location that fails to load (a broken graph file) does not hide them: the
listing says which file is broken and goes on.
"""

from __future__ import annotations

from typing import Any

from lume_assets.errors import LumeError


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split())


def listed_models(remote: str | None) -> tuple[list[Any], str | None]:
    """(ModelInfo-like rows with a `source`, the location's load error or None)."""
    from lume_assets.commands.common import make_client

    rows: list[Any] = []
    problem = None
    served: set[str] = set()
    try:
        client = make_client(remote)
        try:
            where = "server" if remote else _location_name()
            for info in client.models():
                rows.append(info.model_copy(update={"source": f"location {where}"}))
                served.add(info.name)
        finally:
            client.close()
    except LumeError as exc:
        problem = one_line(exc)
    if not remote:
        rows.extend(installed_rows(served))
    return sorted(rows, key=lambda r: r.name), problem


def _location_name() -> str:
    """This folder's code-location name."""
    from lume_assets.location import find_location

    return find_location().name


def installed_rows(skip: set[str]) -> list[Any]:
    """Installed (entry point) models not in `skip`, described from their specs when they
    import (else from the entry point alone)."""
    from lume_assets.api.records import ModelInfo, VariableInfo
    from lume_assets.models.catalogue import entry_point_models, import_model
    from lume_assets.models.variables import variable_row

    def variable_info(var: Any) -> VariableInfo:
        return VariableInfo(**variable_row(var))

    rows = []
    for name, (ref, dist) in sorted(entry_point_models().items()):
        if name in skip:
            continue
        source = f"entry point ({dist})"
        try:
            spec = import_model(ref)
        except LumeError as exc:
            rows.append(
                ModelInfo(
                    name=name,
                    version="?",
                    description=f"cannot load: {one_line(exc)}",
                    result_asset="",
                    op_name="",
                    source=source,
                )
            )
            continue
        rows.append(
            ModelInfo(
                name=name,
                version=spec.version,
                description=spec.description,
                project=spec.project,
                owners=list(spec.owners),
                inputs=[variable_info(v) for v in spec.inputs],
                outputs=[variable_info(v) for v in spec.outputs],
                result_asset="",
                op_name="",
                source=source,
            )
        )
    return rows


def specs_to_register(targets: tuple[str, ...]) -> list[Any]:
    """ModelSpecs to register: named ones (name or module:ATTR), else every model the location
    serves plus every installed one."""
    from lume_assets.models.catalogue import CATALOGUE, entry_point_models, import_model

    if targets:
        return [CATALOGUE.resolve(target) for target in targets]
    from lume_assets.location import load_definitions
    from lume_assets.serving import SERVED

    load_definitions()  # serves (and so lists) every model of the location, graph nodes too
    found: dict[tuple[str, str], Any] = dict(SERVED)
    for ref, _ in entry_point_models().values():
        spec = import_model(ref)
        found.setdefault((spec.name, spec.version), spec)
    return list(found.values())
