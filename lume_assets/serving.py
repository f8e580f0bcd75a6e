"""Definitions for a list of models and graphs, and the resource set for the settings.

The product's code-location building blocks — `resources()` (IO managers, result store,
registry), `definitions(models=..., graphs=...)` — used by any project's `definitions.py`
(`lume-assets init` writes one) and by the demo project's location.
Nothing here writes to a database on import or when building: a model's deployment is
registered when it first runs, or with `lume-assets models register`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from lume_assets.assets.graph_assets import AssetGraph, load_asset_graph, load_asset_graphs
from lume_assets.automation.gate import ApprovalsResource
from lume_assets.deploy.chunk_runners import RUNNER_KEY, ChunkRunner
from lume_assets.io_managers.files import FileIOManager
from lume_assets.io_managers.hdf5 import HDF5IOManager
from lume_assets.io_managers.registry import RegistryResource
from lume_assets.io_managers.results import ResultIOManager, ResultStoreResource
from lume_assets.io_managers.text import TextIOManager
from lume_assets.models.model import ModelSpec
from lume_assets.settings import get_settings
from lume_assets.storage.urls import url_password

if TYPE_CHECKING:  # SQLAlchemy loads only when a registry is opened
    from lume_assets.models.registry import DeploymentRecord

#: ModelSpecs served by definitions built in this process, by (name, version): lets the client
#: describe every served model (units, ranges, outputs), graph nodes included.
SERVED: dict[tuple[str, str], ModelSpec] = {}


def build_resources() -> dict[str, Any]:
    """Return the resource set (IO managers, result store, registry) for the configured setup."""
    settings = get_settings()
    files_root = str(settings.resolved_files_root())
    alias = str(settings.mount_alias) if settings.mount_alias else None
    result_store = ResultStoreResource(
        url=_shown_url("LUME_RESULTS_URL", settings.resolved_results_url()),
        project=settings.project,
        # Offloaded arrays are written through the mount alias inside a container.
        files_root=alias or files_root,
        # Passwords stay EnvVars: Dagster resolves them at run time and never shows them.
        mongo_password=dg.EnvVar("LUME_MONGO_PASSWORD") if settings.mongo_password else None,
        postgres_password=(
            dg.EnvVar("LUME_POSTGRES_PASSWORD") if settings.postgres_password else None
        ),
    )
    registry_url = _shown_url("LUME_REGISTRY_URL", settings.resolved_registry_url())
    return {
        # In a container the host's files root is only reachable through its mount alias.
        "io_manager": dg.FilesystemIOManager(base_dir=alias or files_root),
        "hdf5_io_manager": HDF5IOManager(root_dir=files_root, mount_alias=alias),
        "text_io_manager": TextIOManager(root_dir=files_root, mount_alias=alias),
        "particles_io_manager": FileIOManager(
            root_dir=files_root, mount_alias=alias, serializer="openpmd_particles"
        ),
        "result_store": result_store,
        "result_io_manager": ResultIOManager(result_store=result_store),
        "registry": RegistryResource(url=registry_url),
        "approvals": ApprovalsResource(url=registry_url),
        # Scan chunks: in this process or a local pool (LUME_CHUNK_RUNNER); a deployment may
        # replace it (e.g. kind slurm) in its definitions or in run config.
        RUNNER_KEY: ChunkRunner(kind=settings.chunk_runner, workers=settings.chunk_workers),
    }


def _shown_url(env_var: str, url: str) -> str | dg.EnvVar:
    """`url` as resource config: a URL with an inline password goes in as the EnvVar holding it,
    so Dagit (and any config display) shows the variable's name, never the password."""
    return dg.EnvVar(env_var) if url_password(url) is not None else url


def resources() -> dict[str, Any]:
    """The resource set for the current settings (`la.resources()`)."""
    return build_resources()


def register_models(models: Sequence[ModelSpec]) -> list[DeploymentRecord]:
    """Register every model's deployment in the settings' registry (idempotent)."""
    from lume_assets.models.registry import ModelRegistry

    registry = ModelRegistry(get_settings().resolved_registry_url())
    try:
        return [registry.register_spec(spec) for spec in models]
    finally:
        registry.close()


def graph_folders() -> list[Path]:
    """Folders of plain YAML graph files to serve: `LUME_GRAPHS_DIR` when set."""
    configured = get_settings().graphs_dir
    return [configured] if configured else []


def graph_models(graphs: Sequence[AssetGraph]) -> list[ModelSpec]:
    """The distinct models (by name and version) the graphs' nodes use."""
    seen: dict[tuple[str, str], ModelSpec] = {}
    for graph in graphs:
        for node in graph.graph.nodes:
            seen.setdefault((node.model.name, node.model.version), node.model)
    return list(seen.values())


def serve(models: Iterable[ModelSpec]) -> None:
    """Remember `models` as served (for `models show` and the client)."""
    for spec in models:
        SERVED.setdefault((spec.name, spec.version), spec)


def served_spec(name: str, version: str | None = None) -> ModelSpec | None:
    """A served model's spec by name (and version when given)."""
    for (served_name, served_version), spec in SERVED.items():
        if served_name == name and version in (None, "", served_version):
            return spec
    return None


def graph_definitions(graphs: Sequence[AssetGraph]) -> dg.Definitions:
    """The graphs' assets, `<graph>_job`s and schedules, merged."""
    from lume_assets.components.model_graph import graph_definitions as one_graph

    serve(graph_models(graphs))
    return dg.Definitions.merge(*(one_graph(g) for g in graphs)) if graphs else dg.Definitions()


def definitions(
    models: Sequence[ModelSpec] = (),
    graphs: Sequence[str | Path | AssetGraph] = (),
    *,
    graph_dirs: Sequence[str | Path] = (),
    with_resources: bool = True,
    extra: Sequence[dg.Definitions] = (),
) -> dg.Definitions:
    """Definitions serving `models` (one `model_asset` each) and `graphs` (YAML files, folders
    of them, or built AssetGraphs), with the resource set for the settings."""
    from lume_assets.assets.model_assets import model_asset
    from lume_assets.assets.model_config import launchpad_jobs

    built: list[AssetGraph] = []
    for graph in graphs:
        if isinstance(graph, AssetGraph):
            built.append(graph)
        elif Path(graph).is_dir():
            built.extend(load_asset_graphs([graph]))
        else:
            built.append(load_asset_graph(graph))
    built.extend(load_asset_graphs(graph_dirs) if graph_dirs else [])
    serve(models)
    assets = [model_asset(spec) for spec in models]
    parts = [
        dg.Definitions(assets=assets, jobs=launchpad_jobs(assets)),
        graph_definitions(built),
        *extra,
    ]
    if with_resources:
        parts.append(dg.Definitions(resources=build_resources()))
    return dg.Definitions.merge(*parts)


__all__ = [
    "SERVED",
    "build_resources",
    "definitions",
    "graph_definitions",
    "graph_folders",
    "graph_models",
    "register_models",
    "resources",
    "serve",
    "served_spec",
]
