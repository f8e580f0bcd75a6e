"""lume_assets.models: model specs, their variables, and the model registry."""

from lume_assets.models.catalogue import CATALOGUE, ModelCatalogue, register_model
from lume_assets.models.lume_variables import load_variables
from lume_assets.models.model import ModelResources, ModelSpec, RetrySpec
from lume_assets.models.variables import (
    ArrayVariable,
    FileVariable,
    ImageVariable,
    ParticlesVariable,
    ScalarVariable,
    TextVariable,
    Variable,
)

__all__ = [
    "CATALOGUE",
    "ArrayVariable",
    "FileVariable",
    "ImageVariable",
    "ModelCatalogue",
    "ModelResources",
    "ModelSpec",
    "ParticlesVariable",
    "RetrySpec",
    "ScalarVariable",
    "TextVariable",
    "Variable",
    "load_variables",
    "register_model",
]
