"""The "registry" resource: the model registry as a Dagster ConfigurableResource."""

from functools import cached_property
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from lume_assets.settings import get_settings

if TYPE_CHECKING:  # SQLAlchemy loads when a run opens the registry, not with the definitions
    from lume_assets.models.registry import ModelRegistry


class RegistryResource(dg.ConfigurableResource):
    """Gives assets the model registry (SQLite under LUME_HOME unless `url` is set)."""

    url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: LUME_REGISTRY_URL or SQLite."
    )

    @cached_property
    def registry(self) -> "ModelRegistry":
        """The connected registry (opened once per resource instance)."""
        from lume_assets.models.registry import ModelRegistry

        return ModelRegistry(self.url or get_settings().resolved_registry_url())
