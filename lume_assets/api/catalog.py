"""The models a code location serves, found from its Definitions (and their ModelSpecs)."""

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import dagster as dg

from lume_assets.api.inputs import config_value
from lume_assets.api.records import ModelInfo, VariableInfo
from lume_assets.assets.model_display import variable_row, variable_spec
from lume_assets.assets.model_keys import is_result_path
from lume_assets.errors import ClientError
from lume_assets.models.catalogue import did_you_mean

#: Metadata key model assets carry (set by `model_asset`).
MODEL_METADATA = "lume/model"
VERSION_METADATA = "lume/version"
FORCE_FIELD = "force"


class ModelEntry(NamedTuple):
    """A model of the code location: what users see, its assets, and its spec when known."""

    info: ModelInfo
    assets_def: dg.AssetsDefinition
    spec: Any  # ModelSpec | None


def variable_info(var: Any) -> VariableInfo:
    """Describe a ModelSpec variable for users (default, units, allowed range or shape)."""
    return VariableInfo(**variable_row(var), spec=variable_spec(var))


def _owners(spec: dg.AssetSpec) -> list[str]:
    """Owners of an asset spec as plain strings (emails, or 'team:name')."""
    return [str(o) for o in spec.owners]


def _config_inputs(assets_def: dg.AssetsDefinition) -> list[VariableInfo]:
    """Inputs read from the op's config schema (when no ModelSpec is at hand)."""
    fields = assets_def.op.config_field.config_type.fields if assets_def.op.config_field else {}
    out = []
    for name, field in fields.items():
        if name == FORCE_FIELD:
            continue
        default = field.default_value if field.default_provided else None
        out.append(VariableInfo(name=name, default=default, description=field.description or ""))
    return out


def model_entries(definitions: dg.Definitions, specs: Iterable[Any] = ()) -> dict[str, ModelEntry]:
    """Every model asset of `definitions` by model name, described from its spec if given."""
    from lume_assets.serving import served_spec

    by_name = {spec.name: spec for spec in specs}
    entries: dict[str, ModelEntry] = {}
    seen: set[int] = set()
    for assets_def in definitions.get_repository_def().assets_defs_by_key.values():
        if id(assets_def) in seen:
            continue
        seen.add(id(assets_def))
        for key, spec in assets_def.specs_by_key.items():
            model = spec.metadata.get(MODEL_METADATA)
            if model is None or not is_result_path(key.path):
                continue
            version = str(spec.metadata.get(VERSION_METADATA, spec.code_version or ""))
            # graph nodes and installed models are described from their served specs
            model_spec = by_name.get(str(model)) or served_spec(str(model), version)
            entry = ModelEntry(
                info=_model_info(str(model), key, spec, assets_def, model_spec),
                assets_def=assets_def,
                spec=model_spec,
            )
            known = entries.get(str(model))
            if known is None or _rank(entry) < _rank(known):
                entries[str(model)] = entry
    return entries


def _rank(entry: ModelEntry) -> tuple[bool, int, str]:
    """Which asset stands for a model served several times (e.g. also per inbox file): the
    unpartitioned one with the shortest key."""
    key = entry.info.result_asset
    return (entry.assets_def.partitions_def is not None, key.count("/"), key)


def _model_info(
    name: str, key: dg.AssetKey, spec: dg.AssetSpec, assets_def: dg.AssetsDefinition, model: Any
) -> ModelInfo:
    """Describe one model from its result asset spec and (if known) its ModelSpec."""
    kinds = sorted({k for s in assets_def.specs for k in s.kinds})
    return ModelInfo(
        name=name,
        version=str(spec.metadata.get(VERSION_METADATA, spec.code_version or "")),
        description=(model.description if model is not None else assets_def.op.description) or "",
        project=getattr(model, "project", None) or spec.group_name,
        group=spec.group_name,
        owners=_owners(spec),
        kinds=kinds,
        inputs=[variable_info(v) for v in model.inputs]
        if model is not None
        else _config_inputs(assets_def),
        outputs=[variable_info(v) for v in model.outputs] if model is not None else [],
        assets=sorted(k.to_user_string() for k in assets_def.keys),
        result_asset=key.to_user_string(),
        op_name=assets_def.node_def.name,
    )


def find_model(entries: Mapping[str, Any], name: str) -> Any:
    """Return the entry of model `name`, or a ClientError listing the known models."""
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        hint = did_you_mean(name, entries)
        raise ClientError(f"No model {name!r} in this code location; {hint}models: {known}.")
    return entries[name]


def run_config(info: ModelInfo, inputs: Mapping[str, Any], force: bool) -> dict[str, Any]:
    """Run config launching `info`'s model with `inputs` (only its config fields)."""
    allowed = {v.name for v in info.inputs}
    config = {k: config_value(v) for k, v in inputs.items() if k in allowed}
    if force:
        config[FORCE_FIELD] = True
    return {"ops": {info.op_name: {"config": config}}}
