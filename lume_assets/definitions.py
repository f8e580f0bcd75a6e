"""The lume_assets code location: Definitions built from settings and the registered models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from lume_assets.assets.graph_assets import AssetGraph, graph_job, load_asset_graphs
from lume_assets.assets.graph_loader import EXAMPLES_DIR
from lume_assets.automation.gate import ApprovalsResource
from lume_assets.automation.schedules import graph_schedules
from lume_assets.demo.assets import demo_assets, demo_checks, demo_models
from lume_assets.demo.automation import build_demo_automation
from lume_assets.demo.focus_model import FOCUS
from lume_assets.deploy.jobs import group_job
from lume_assets.deploy.launch import DEMO_JOB
from lume_assets.io_managers.hdf5 import HDF5IOManager
from lume_assets.io_managers.registry import RegistryResource
from lume_assets.io_managers.results import ResultIOManager, ResultStoreResource
from lume_assets.io_managers.text import TextIOManager
from lume_assets.models.model import ModelSpec
from lume_assets.models.registry import DeploymentRecord, ModelRegistry
from lume_assets.settings import get_settings
from lume_assets.storage.urls import url_password

#: Every model this code location serves; each is registered when the definitions load.
MODELS: list[ModelSpec] = [*demo_models, FOCUS]


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
        "result_store": result_store,
        "result_io_manager": ResultIOManager(result_store=result_store),
        "registry": RegistryResource(url=registry_url),
        "approvals": ApprovalsResource(url=registry_url),
    }


def _shown_url(env_var: str, url: str) -> str | dg.EnvVar:
    """`url` as resource config: a URL with an inline password goes in as the EnvVar holding it,
    so Dagit (and any config display) shows the variable's name, never the password."""
    return dg.EnvVar(env_var) if url_password(url) is not None else url


def register_models(models: Sequence[ModelSpec]) -> list[DeploymentRecord]:
    """Register every model's deployment in the settings' registry (idempotent)."""
    registry = ModelRegistry(get_settings().resolved_registry_url())
    try:
        return [registry.register_spec(spec) for spec in models]
    finally:
        registry.close()


def graph_folders() -> list[Path]:
    """Folders of YAML asset graphs: the shipped examples, then `LUME_GRAPHS_DIR` if set."""
    configured = get_settings().graphs_dir
    return [EXAMPLES_DIR, *([configured] if configured else [])]


def graph_models(graphs: Sequence[AssetGraph]) -> list[ModelSpec]:
    """The distinct models (by name and version) the graphs' nodes use."""
    seen: dict[tuple[str, str], ModelSpec] = {}
    for graph in graphs:
        for node in graph.graph.nodes:
            seen.setdefault((node.model.name, node.model.version), node.model)
    return list(seen.values())


#: Definitions already built in this process, by `definitions_key()`.
_BUILT: dict[str, dg.Definitions] = {}


def definitions_key() -> str:
    """What the definitions depend on besides code: the settings and the graph files' stamps."""
    stamps = [
        (str(path), path.stat().st_mtime_ns, path.stat().st_size)
        for folder in graph_folders()
        if folder.is_dir()
        for path in sorted(folder.glob("*.y*ml"))
    ]
    return repr((get_settings().model_dump_json(), stamps))


def cached_definitions() -> dg.Definitions:
    """The Definitions for the current settings, built once per process."""
    key = definitions_key()
    if key not in _BUILT:
        _BUILT[key] = build_definitions()
    return _BUILT[key]


def build_definitions() -> dg.Definitions:
    """Load the YAML graphs, register every model and return the code location's Definitions."""
    graphs = load_asset_graphs(graph_folders())
    served = {(m.name, m.version): m for m in [*MODELS, *graph_models(graphs)]}
    register_models(list(served.values()))
    automation = build_demo_automation()
    jobs_by_graph = {g.name: graph_job(g) for g in graphs}
    graph_jobs = [job for job in jobs_by_graph.values() if job is not None]
    # A graph's `schedules:` run its job, or (all nodes partitioned: no job) its assets.
    scheduled = [
        schedule
        for g in graphs
        for schedule in graph_schedules(g.graph.spec.schedules, jobs_by_graph[g.name] or g.assets)
    ]
    return dg.Definitions(
        assets=[
            *demo_assets,
            *automation["assets"],
            *(asset for graph in graphs for asset in graph.assets),
        ],
        asset_checks=demo_checks,
        jobs=[group_job(demo_assets, "demo", DEMO_JOB), *automation["jobs"], *graph_jobs],
        sensors=automation["sensors"],
        schedules=[*automation["schedules"], *scheduled],
        resources=build_resources(),
    )


defs = cached_definitions()
