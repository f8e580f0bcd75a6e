"""A model's run config (a Dagster `Config` built from its inputs) and its RetryPolicy."""

from collections.abc import Sequence
from typing import Any

import dagster as dg
import pydantic

from lume_assets.deploy.placement import placement_tags
from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import ArrayVariable, FileVariable, ScalarVariable

FORCE_FIELD = "force"


def _describe(var: Any) -> str:
    """Launchpad description of an input: text, units and allowed range/shape."""
    parts = [var.description] if var.description else []
    if isinstance(var, ScalarVariable):
        parts.append(f"allowed: {var.describe_allowed()}")
    elif isinstance(var, ArrayVariable):
        parts.append(f"{var.dtype} array, shape {var.describe_shape()}")
    elif isinstance(var, FileVariable):
        parts.append("path of an existing file")
    return "; ".join(parts)


def _config_type(var: Any) -> Any:
    """Python type of the config field for an input variable."""
    if isinstance(var, ScalarVariable):
        return float
    if isinstance(var, ArrayVariable):
        elem: Any = (
            int
            if var.dtype.startswith(("int", "uint"))
            else (bool if var.dtype == "bool" else float)
        )
        ndim = len(var.shape) if var.shape is not None else 1
        for _ in range(max(ndim, 1)):
            elem = list[elem]
        return elem
    return str  # text, file


def build_config_class(spec: ModelSpec, exclude: Sequence[str] = ()) -> type[dg.Config]:
    """A Dagster Config class with one field per input (defaults shown) and `force`."""
    fields: dict[str, Any] = {}
    for var in spec.inputs:
        if var.name in exclude:
            continue
        default = getattr(var, "default", None)
        kind = _config_type(var)
        if default is None:
            fields[var.name] = (kind, pydantic.Field(description=_describe(var)))
        else:
            fields[var.name] = (kind, pydantic.Field(default=default, description=_describe(var)))
    fields[FORCE_FIELD] = (
        bool,
        pydantic.Field(default=False, description="Re-evaluate even if a cached result exists."),
    )
    name = "".join(p.capitalize() for p in spec.name.split("_")) + "Config"
    return pydantic.create_model(name, __base__=dg.Config, **fields)


def partition_config_class(spec: ModelSpec, exclude: Sequence[str] = ()) -> type[dg.Config]:
    """The run config of a model whose inputs come per partition: every input optional (a
    backfill launches runs without run config; `partition_inputs` supplies the values)."""
    base = build_config_class(spec, exclude)
    fields = {
        name: (
            field.annotation | None,
            pydantic.Field(default=None, description=field.description),
        )
        for name, field in base.model_fields.items()
        if field.is_required()
    }
    return pydantic.create_model(f"{base.__name__}ByPartition", __base__=base, **fields)


class ScanConfig(dg.Config):
    """A scan's run config: `force`, as for a model (stored points re-evaluated, flags kept)."""

    force: bool = pydantic.Field(
        default=False,
        description="Re-evaluate every point even if a stored result exists; a published "
        "result stays published.",
    )


def retry_policy_of(spec: ModelSpec) -> dg.RetryPolicy | None:
    """The Dagster RetryPolicy of the spec's retry settings (None without retries)."""
    retry = spec.retry
    if retry.max_retries == 0:
        return None
    backoff = {
        "linear": dg.Backoff.LINEAR,
        "exponential": dg.Backoff.EXPONENTIAL,
        None: None,
    }[retry.backoff]
    return dg.RetryPolicy(max_retries=retry.max_retries, delay=retry.delay or None, backoff=backoff)


def model_op_tags(spec: ModelSpec) -> dict[str, str]:
    """Op tags of every asset evaluating `spec`: model, version, CPU/memory/image placement."""
    return {
        "lume/model": spec.name,
        "lume/version": spec.version,
        **placement_tags(spec.resources),  # CPU/memory/image for Docker and Kubernetes
    }
