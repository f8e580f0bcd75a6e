"""A model's run config (a Dagster `Config` built from its inputs) and its RetryPolicy."""

import math
import re
from collections.abc import Sequence
from typing import Any, NamedTuple
from urllib.parse import quote_plus

import dagster as dg
import pydantic
import yaml

from lume_assets.deploy.placement import placement_tags, run_placement_tags
from lume_assets.models.model import ModelSpec
from lume_assets.models.variables import ArrayVariable, FileVariable, ScalarVariable, with_units

FORCE_FIELD = "force"


def _allowed(var: Any) -> str:
    """What an input accepts, with units: a range, an array shape or a file."""
    if isinstance(var, ScalarVariable):
        return f"allowed: {var.describe_allowed()}"
    if isinstance(var, ArrayVariable):
        return f"{var.dtype} array, shape {var.describe_shape()}"
    if isinstance(var, FileVariable):
        return "path of an existing file"
    return ""


def _describe(var: Any, position: int = 0, count: int = 0) -> str:
    """Launchpad description of an input: its place among the inputs (Dagster lists config
    fields alphabetically), units, text and allowed range/shape."""
    place = f"input {position} of {count}" if position else ""
    head = with_units(place, getattr(var, "units", None))
    text = f"{head}: {var.description}" if head and var.description else head or var.description
    return "; ".join(p for p in (text, _allowed(var)) if p)


_PLACE = re.compile(r"^input \d+ of \d+( \[[^\]]*\])?(: )?")  # the head `_describe` writes


def description_parts(description: str) -> tuple[str, str]:
    """(the input's own text, what it allows) from a launchpad description `_describe` wrote:
    "input 1 of 3 [m]: text; allowed: ..." -> ("text", "...")."""
    allowed = description.split("allowed: ", 1)[1] if "allowed: " in description else ""
    return _PLACE.sub("", description.split("; allowed: ")[0]), allowed


def inputs_summary(spec: ModelSpec, exclude: Sequence[str] = ()) -> str:
    """The run config's description: the inputs in declared order with units and ranges, then
    the run setting, and where storage is set (Dagit shows it in the launchpad's help)."""
    lines = [
        with_units(var.name, getattr(var, "units", None))
        + ": "
        + "; ".join(p for p in (var.description, _allowed(var)) if p)
        for var in spec.inputs
        if var.name not in exclude
    ]
    return (
        f"Inputs of model {spec.name} {spec.version}, in declared order: "
        + " | ".join(lines)
        + f" || Run setting: {FORCE_FIELD}. Storage (result store, registry, file roots) is set "
        "under resources:, apart from the inputs."
    )


#: The longest launchpad link: a click on it is a GET the webserver reads in one request line
#: (uvicorn/h11 refuses more than 16 kB of request head).
MAX_LINK = 12_000
#: Metadata key of a model's result asset naming its launchpad job (`launchpad_jobs`).
LAUNCHPAD_JOB = "lume/launchpad_job"
#: The text of the launchpad link in a result asset's description.
LAUNCHPAD_TEXT = "Open the launchpad: inputs in declared order, with units and ranges"


def launchpad_job_name(op_name: str) -> str:
    """The name of the job whose launchpad the model asset `op_name` links to."""
    return f"{op_name}_launchpad"


def _yaml_value(value: Any) -> str:
    """`value` as one line of YAML that Dagster's loader reads back (PyYAML: `1e-06` would be
    a string, `1.0e-06` is a float); scalars without the YAML dumper (a link per model)."""
    value = value.tolist() if hasattr(value, "tolist") else value  # numpy: plain Python
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float) and math.isfinite(value):
        text = float.__repr__(value)
        return text if "." in text or "e" not in text else text.replace("e", ".0e", 1)
    return (
        yaml.safe_dump(value, default_flow_style=True, width=2**31).removesuffix("\n...\n").strip()
    )


class LaunchpadBlock(NamedTuple):
    """One op's block of a launchpad YAML: its model, op name and the inputs left out (bound
    to upstream assets)."""

    spec: ModelSpec
    op_name: str
    exclude: Sequence[str] = ()


def _block_lines(block: LaunchpadBlock, texts: bool) -> list[str]:
    """The YAML lines of one op: the inputs in declared order, each with a comment giving its
    units, text (unless `texts` is False) and allowed range, then `force` apart."""
    rows = []
    for var in (var for var in block.spec.inputs if var.name not in block.exclude):
        default, units = getattr(var, "default", None), getattr(var, "units", None)
        text = var.description if texts else ""
        text = f"[{units}] {text}".strip() if units else text
        note = (text, _allowed(var), "required" if default is None else "")
        rows.append((f"{var.name}: {_yaml_value(default)}", "; ".join(p for p in note if p)))
    rows.append((f"{FORCE_FIELD}: false", "re-evaluate even if a stored result exists"))
    width = max(len(code) for code, _ in rows) + 2
    lines = [f"      {code.ljust(width)}# {note}".rstrip() for code, note in rows]
    spec = block.spec
    return [
        f"  {block.op_name}:  # model {spec.name} {spec.version}",
        "    config:",
        *lines[:-1],
        "      # run setting, not a model input:",
        lines[-1],
    ]


def launchpad_yaml(blocks: Sequence[LaunchpadBlock], texts: bool = True) -> str:
    """The run config YAML of the ops of `blocks` as a physicist reads it: each op's inputs in
    declared order with units, text and allowed range as comments, then `force` apart, and a
    closing note that storage is set under resources."""
    return "\n".join(
        [
            "# the inputs in declared order: [units] text; allowed range",
            "ops:",
            *(line for block in blocks for line in _block_lines(block, texts)),
            "# storage (result store, registry, file roots) is set under resources:, apart from",
            "# the inputs; the deployment's defaults apply.",
            "",
        ]
    )


def launchpad_link(job: str, blocks: Sequence[LaunchpadBlock]) -> str | None:
    """A Dagit link opening `job`'s launchpad on `launchpad_yaml(blocks)`, comments kept (None
    when even without the inputs' texts it is longer than the webserver takes, `MAX_LINK`).

    It goes through Dagit's launchpad setup route (`/guess/<job>` finds the job's code
    location): the only way in that keeps the text as written. Every other (Materialize ->
    Open launchpad, a job's scaffold or default preset) regenerates the YAML from a dict,
    alphabetically (dagster `_config/snap.py` sorts a Shape's fields, `dump_run_config_yaml`
    sorts keys) and without comments. The implicit asset job's launchpad ignores the route (it
    opens a fresh session), hence a job of the model's own (`launchpad_jobs`) or the graph's.
    """
    base = f"/guess/{job}/playground/setup?config="
    link = base + quote_plus(launchpad_yaml(blocks), safe=":,/;")
    if len(link) > MAX_LINK:  # a large model: the comments keep units and ranges only
        link = base + quote_plus(launchpad_yaml(blocks, texts=False), safe=":,/;")
    return link if len(link) <= MAX_LINK else None


def launchpad_jobs(assets: Sequence[Any]) -> list[Any]:
    """A job per model asset of `assets` that links a launchpad (its `LAUNCHPAD_JOB` metadata):
    the model's assets and checks, placed like the model (CPU, memory, image run tags)."""
    jobs = []
    for asset in assets:
        names = {
            spec.metadata[LAUNCHPAD_JOB]
            for spec in getattr(asset, "specs", ())
            if LAUNCHPAD_JOB in spec.metadata
        }
        for name in sorted(names):
            jobs.append(
                dg.define_asset_job(
                    name,
                    selection=dg.AssetSelection.assets(*asset.keys),
                    tags=run_placement_tags([asset.op.tags]),
                    description="Run one model, its inputs listed in declared order with units "
                    "and ranges (open it from the model's result asset).",
                )
            )
    return jobs


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
    shown = [var for var in spec.inputs if var.name not in exclude]
    for position, var in enumerate(shown, start=1):
        default = getattr(var, "default", None)
        kind = _config_type(var)
        described = _describe(var, position, len(shown))
        if default is None:
            fields[var.name] = (kind, pydantic.Field(description=described))
        else:
            fields[var.name] = (kind, pydantic.Field(default=default, description=described))
    fields[FORCE_FIELD] = (
        bool,
        pydantic.Field(
            default=False,
            description="Run setting, not a model input: re-evaluate even if a cached result "
            "exists.",
        ),
    )
    name = "".join(p.capitalize() for p in spec.name.split("_")) + "Config"
    return pydantic.create_model(
        name, __base__=dg.Config, __doc__=inputs_summary(spec, exclude), **fields
    )


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
