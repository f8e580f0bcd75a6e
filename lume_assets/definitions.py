"""The lume_assets code location: Definitions built from settings and the registered models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from lume_assets.automation.gate import ApprovalsResource
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

#: Every model this code location serves; each is registered when the definitions load.
MODELS: list[ModelSpec] = [*demo_models, FOCUS]


def build_resources() -> dict[str, Any]:
    """Return the resource set (IO managers, result store, registry) for the configured setup."""
    settings = get_settings()
    files_root = str(settings.resolved_files_root())
    alias = str(settings.mount_alias) if settings.mount_alias else None
    result_store = ResultStoreResource(
        url=settings.resolved_results_url(),
        project=settings.project,
        # Offloaded arrays are written through the mount alias inside a container.
        files_root=alias or files_root,
        # The password stays an EnvVar: Dagster resolves it at run time and never shows it.
        mongo_password=dg.EnvVar("LUME_MONGO_PASSWORD") if settings.mongo_password else None,
    )
    return {
        # In a container the host's files root is only reachable through its mount alias.
        "io_manager": dg.FilesystemIOManager(base_dir=alias or files_root),
        "hdf5_io_manager": HDF5IOManager(root_dir=files_root, mount_alias=alias),
        "text_io_manager": TextIOManager(root_dir=files_root, mount_alias=alias),
        "result_store": result_store,
        "result_io_manager": ResultIOManager(result_store=result_store),
        "registry": RegistryResource(url=settings.resolved_registry_url()),
        "approvals": ApprovalsResource(url=settings.resolved_registry_url()),
    }


def register_models(models: Sequence[ModelSpec]) -> list[DeploymentRecord]:
    """Register every model's deployment in the settings' registry (idempotent)."""
    registry = ModelRegistry(get_settings().resolved_registry_url())
    try:
        return [registry.register_spec(spec) for spec in models]
    finally:
        registry.close()


def build_definitions() -> dg.Definitions:
    """Register the models and return the code location's Definitions."""
    register_models(MODELS)
    automation = build_demo_automation()
    return dg.Definitions(
        assets=[*demo_assets, *automation["assets"]],
        asset_checks=demo_checks,
        jobs=[group_job(demo_assets, "demo", DEMO_JOB), *automation["jobs"]],
        sensors=automation["sensors"],
        schedules=automation["schedules"],
        resources=build_resources(),
    )


defs = build_definitions()
