"""Cache hits answered from the result store, without a Dagster run.

A `lume-assets run` whose result is stored spends seconds importing Dagster, opening the
instance, building the definitions and running a job only to find the record (a lookup of a
few milliseconds). `stored_hit` answers it from the store instead — only where the answer is
certain to be the one that run would give; otherwise it returns None and the caller runs:

- the model is in the model snapshot (`api.model_snapshot`, keyed on the lume_assets and code
  location sources, the graph files and the settings) with `HitFacts`, recorded when the
  definitions were built (`hit_facts`): a plain model asset (not a graph node, unpartitioned, no
  upstream inputs, no ParticleGroup output), whose callables live in those stamped sources (so
  the snapshot's version and variables are the deployed ones), whose result store and file IO
  managers are the settings' own — the store the `results` command reads;
- the inputs pass the same checks as a run's (`api.inputs.check_inputs`, then the declared
  validation that fills defaults) and the evaluation core's own rule finds a record it would
  reuse (`evaluation.reused_record`; one visibility rule, never a second);
- that record is published (a result held at an approval gate, or rejected there, goes through
  the run, which holds it again) and every file the run would keep (file outputs, the plot) is
  still in place, so the run would neither write a file nor change the record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from lume_assets.api.records import ModelInfo
from lume_assets.errors import LumeError
from lume_assets.storage.results import Result

#: Modules whose specs take their version from outside the stamped sources (a LUME model's
#: distribution and files): never answered from the snapshot.
ADAPTER_MODULES = ("lume_assets.models.",)


class HitFacts(BaseModel):
    """What a model's run uses besides its inputs, when a hit can be answered without it."""

    model_config = ConfigDict(frozen=True)

    store_url: str
    project: str
    files_root: str
    kept_files: list[str]  # outputs (and the plot) the run keeps as files: each must exist


def declared_spec(info: ModelInfo) -> Any:
    """The model's declaration (name, version, variables) from its snapshot record, or None.

    A `ModelSpec` without its callable: enough to validate and hash inputs and to check stored
    outputs (`evaluation.plan`), never to evaluate."""
    from lume_assets.api.inputs import declared_variables
    from lume_assets.models.model import ModelSpec

    inputs = declared_variables(info.inputs)
    outputs = declared_variables(info.outputs)
    if inputs is None or outputs is None or not outputs:
        return None
    return ModelSpec.model_construct(
        name=info.name, version=info.version, inputs=inputs, outputs=outputs
    )


def stored_hit(model: str, inputs: Mapping[str, Any], open_store: Callable[[], Any]) -> Any:
    """The stored `Result` a run of `model` with `inputs` would reuse, answered without Dagster
    (module docstring), or None when that is not certain. Inputs the run would refuse raise its
    ModelInputError."""
    from lume_assets.api.inputs import check_inputs
    from lume_assets.api.model_snapshot import read_snapshot_facts
    from lume_assets.assets.evaluation import reused_record

    found = read_snapshot_facts()
    info = None if found is None else found[0].get(model)
    if found is None or info is None or model not in found[1]:
        return None
    try:
        facts = HitFacts.model_validate(found[1][model])
    except ValidationError:
        return None
    spec = declared_spec(info)
    if spec is None or not _settings_store(facts):
        return None
    checked = spec.validate_inputs(check_inputs(info, inputs))
    record = reused_record(spec, checked, store=open_store())
    if record is None or not record.published:
        return None
    return record if all(_kept(record, n, facts.files_root) for n in facts.kept_files) else None


def _settings_store(facts: HitFacts) -> bool:
    """Whether the facts' store and files root are still the settings' own."""
    from lume_assets.settings import get_settings

    settings = get_settings()
    return (
        facts.store_url == settings.resolved_results_url()
        and facts.project == settings.project
        and Path(facts.files_root) == settings.resolved_files_root()
    )


def _kept(record: Result, name: str, files_root: str) -> bool:
    """Whether the record's file `name` is still where the run's IO manager would find it."""
    from lume_assets.storage.filesystems import LocalFilesystem

    file = record.provenance.files.get(name)
    if file is None or not file.path or not file.sha256:
        return False
    try:
        return LocalFilesystem(files_root).resolve(file.path).is_file()
    except LumeError:
        return False


def hit_facts(definitions: Any, entry: Any) -> HitFacts | None:
    """The facts letting a hit of `entry`'s model (a `ModelEntry` of `definitions`) be answered
    from the store, or None if its run could differ from a lookup (module docstring)."""
    try:
        return _hit_facts(definitions, entry)
    except Exception:  # noqa: BLE001 - only a shortcut: a model it cannot describe always runs
        return None


def _hit_facts(definitions: Any, entry: Any) -> HitFacts | None:
    """`hit_facts` (exceptions propagate)."""
    import dagster as dg

    from lume_assets.api.local import graph_node
    from lume_assets.assets.model_assets import PLOT_FILE
    from lume_assets.assets.model_keys import file_outputs
    from lume_assets.io_managers.results import PROJECT_KEY, ResultIOManager, ResultStoreResource
    from lume_assets.settings import get_settings

    spec, assets_def = entry.spec, entry.assets_def
    if spec is None or graph_node(entry) or assets_def.partitions_def is not None:
        return None
    if assets_def.keys_by_input_name or spec.outputs_of_kind("particles"):
        return None
    if PLOT_FILE in spec.output_map or declared_spec(entry.info) is None or not _stamped(spec):
        return None
    settings = get_settings()
    root = str(settings.resolved_files_root())
    resources = definitions.resources
    iom = resources.get("result_io_manager")
    store = getattr(iom, "result_store", None) if isinstance(iom, ResultIOManager) else None
    if not isinstance(store, ResultStoreResource):
        return None
    key = dg.AssetKey.from_user_string(entry.info.result_asset)
    project = str(assets_def.metadata_by_key.get(key, {}).get(PROJECT_KEY) or store.project)
    url = settings.resolved_results_url()
    plain = ResultStoreResource(url=url, project=store.project, files_root=root)
    if project != settings.project or _config(store) != _config(plain):
        return None
    kept = [v.name for v in file_outputs(spec)] + ([PLOT_FILE] if spec.plot is not None else [])
    kinds = {spec.output_map[n].kind if n in spec.output_map else "image" for n in kept}
    if not all(_plain_files(resources, kind, root) for kind in kinds):
        return None
    return HitFacts(store_url=url, project=project, files_root=root, kept_files=kept)


def _plain_files(resources: Mapping[str, Any], kind: str, root: str) -> bool:
    """Whether outputs of `kind` go through our file IO manager at `root`, unmounted."""
    from lume_assets.assets.model_keys import IO_MANAGER_BY_KIND
    from lume_assets.io_managers.files import FileIOManager

    manager = resources.get(IO_MANAGER_BY_KIND[kind])
    if not isinstance(manager, FileIOManager):
        return False
    return not manager.mount_alias and manager.root_dir == root


def _config(resource: Any) -> dict[str, Any]:
    """A configurable resource's fields as plain values (EnvVars stay EnvVars: never equal)."""
    return {name: getattr(resource, name) for name in type(resource).model_fields}


def _stamped(spec: Any) -> bool:
    """Whether every callable of `spec` is defined in the sources the snapshot key stamps."""
    import inspect

    from lume_assets.api.model_snapshot import stamped_folders

    folders = stamped_folders()
    for fn in (spec.function, spec.batch_function, spec.plot):
        if fn is None:
            continue
        if str(getattr(fn, "__module__", "")).startswith(ADAPTER_MODULES):
            return False
        try:
            source = inspect.getsourcefile(fn)
        except TypeError:  # a builtin or C function
            return False
        if source is None or not any(Path(source).resolve().is_relative_to(f) for f in folders):
            return False
    return True
