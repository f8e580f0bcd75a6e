"""`lume-assets results MODEL --where 'inputs.k>=1'`: query stored results as a table or JSON."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from lume_assets.commands.common import echo_json, json_option, parse_value, table
from lume_assets.errors import ClientError, LumeError
from lume_assets.storage.query import MAX_INT, MAX_LIMIT

_OPS = {">=": "$gte", "<=": "$lte", "!=": "$ne", "==": "$eq", "=": "$eq", ">": "$gt", "<": "$lt"}
_WHERE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|!=|==|=|>|<|\s+in\s+)\s*(.*?)\s*$")


#: Top-level record fields whose values are text (never parsed as numbers).
_TEXT_FIELDS = ("model", "version", "inputs_hash")


def where_value(path: str, raw: str, clause: str) -> Any:
    """A --where value: text for model/version/hash, a UTC datetime for `created`, else JSON."""
    if path in _TEXT_FIELDS:
        return raw
    if path == "created":
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            raise click.BadParameter(
                f"{clause!r}: {raw[:40]!r} is not a date; write e.g. 'created>2024-05-01' or "
                "'created>=2024-05-01T12:00'",
                param_hint="--where",
            ) from None
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    value = parse_value(raw)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MAX_INT:
        raise click.BadParameter(
            f"{clause[:40]!r}...: the number is too large to compare (at most 19 digits)",
            param_hint="--where",
        )
    return value


def parse_where(clauses: Sequence[str]) -> dict[str, Any] | None:
    """`path OP value` clauses (OP: = == != > >= < <= in) as one Mongo-style filter (AND)."""
    conditions = []
    for clause in clauses:
        match = _WHERE.match(clause)
        if not match or not match.group(3) or match.group(3)[0] in "<>=!":
            raise click.BadParameter(
                f"{clause[:60]!r} is not PATH OP VALUE; e.g. 'inputs.k_f>=2', "
                "'outputs.max_sigma<3', 'version in 1.0.0,1.1.0', 'created>2024-05-01'",
                param_hint="--where",
            )
        path, op, raw = match.groups()
        if op.strip() == "in":
            values = [where_value(path, v.strip(), clause) for v in raw.split(",") if v.strip()]
            value: Any = {"$in": values}
        else:
            value = {_OPS[op]: where_value(path, raw, clause)}
        conditions.append({path: value})
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def known_models() -> dict[str, Any]:
    """The served models by name: from the snapshot, else by loading the definitions once."""
    from lume_assets.api.model_snapshot import read_snapshot

    found = read_snapshot()
    if found is None:
        from lume_assets.client import LumeClient

        try:
            with LumeClient() as client:
                found = {m.name: m for m in client.models()}
        except LumeError as exc:  # a broken location: the stored results are still readable
            click.echo(f"warning: code location not loaded: {' '.join(str(exc).split())}", err=True)
            return {}
    return found


def check_names(
    model: str | None, paths: Sequence[str], store: Any, unpublished: bool
) -> dict[str, Any]:
    """Refuse an unknown model or an input/output name no model declares (did you mean ...);
    return the served models by name."""
    from lume_assets.models.catalogue import did_you_mean
    from lume_assets.storage.query import check_path

    served = known_models()
    if model is not None and model not in served and not store.count(model, None, True):
        raise ClientError(
            f"No model {model!r} in the code location or the result store; "
            f"{did_you_mean(model, served)}models: {', '.join(sorted(served)) or 'none'}."
        )
    infos = [served[model]] if model in served else ([] if model else list(served.values()))
    for path in paths:
        check_path(path)
        root, _, rest = path.partition(".")
        if root not in ("inputs", "outputs") or not infos:
            continue
        names = {v.name for i in infos for v in (i.inputs if root == "inputs" else i.outputs)}
        name = rest.split(".")[0]
        if names and name not in names:
            whose = f"model {model!r}" if model else "no served model"
            raise ClientError(
                f"{path!r}: {whose} has no {root[:-1]} {name!r}; {did_you_mean(name, names)}"
                f"{root} are {', '.join(sorted(names))}."
            )
    return served


def missing_sqlite(url: str) -> Path | None:
    """The file of a `sqlite:///` store URL when it does not exist (a read must not create it)."""
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return None
    path = Path(url.removeprefix("sqlite:///").split("?")[0])
    return None if path.exists() else path


def parse_sort(fields: Sequence[str]) -> list[tuple[str, int]] | None:
    """`path` (ascending) or `-path` (descending) fields as a sort spec."""
    spec = [(f[1:], -1) if f.startswith("-") else (f, 1) for f in fields]
    return spec or None


def _get(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted path into a result's record data (never a Python attribute)."""
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def parse_columns(columns: str) -> list[str]:
    """`--columns` as dotted paths whose first part is a field of the result record."""
    from lume_assets.storage.results import Result

    paths = [c.strip() for c in columns.split(",") if c.strip()]
    for path in paths:
        root = path.split(".")[0]
        if root not in Result.model_fields or not all(path.split(".")):
            raise click.BadParameter(
                f"{path!r} is not a dotted path into a result record; start it with one of "
                f"{', '.join(sorted(Result.model_fields))} (e.g. 'inputs.k_f').",
                param_hint="--columns",
            )
    return paths


def _scalar(value: Any) -> bool:
    """Whether a value fits a table cell (numbers, bools, short one-line text)."""
    if isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and "\n" not in value and len(value) <= 40


def default_columns(found: Sequence[Any], where: Sequence[str], sort: Sequence[str]) -> list[str]:
    """Columns: every scalar input, then every scalar output, then other paths in --where/--sort.

    Every input is shown, so rows that differ only in one input never look identical.
    """
    inputs = [f"inputs.{k}" for r in found for k, v in r.inputs.items() if _scalar(v)]
    outputs = [f"outputs.{k}" for r in found for k, v in r.outputs.items() if _scalar(v)]
    named = [m.group(1) for m in (_WHERE.match(w) for w in where) if m]
    named += [s.lstrip("-") for s in sort]
    extra = [p for p in named if p.split(".")[0] in ("inputs", "outputs", "provenance")]
    return list(dict.fromkeys([*inputs, *outputs, *extra]))


def headers(paths: Sequence[str], infos: Sequence[Any]) -> list[str]:
    """Column titles: the variable's name with its units (`k_f [1/m^2]`), the full path when an
    input and an output share a name or for other paths."""
    units: dict[str, str] = {}
    for info in infos:
        for root, variables in (("inputs", info.inputs), ("outputs", info.outputs)):
            for var in variables:
                units.setdefault(f"{root}.{var.name}", var.units)
    leaves = [p.split(".", 1)[-1] for p in paths]
    out = []
    for path, leaf in zip(paths, leaves, strict=True):
        root = path.split(".")[0]
        short = root in ("inputs", "outputs") and "." not in leaf and leaves.count(leaf) == 1
        title = leaf if short else path
        out.append(f"{title} [{units[path]}]" if units.get(path) else title)
    return out


@click.command()
@click.argument("model", required=False)
@click.option(
    "--where",
    "-w",
    multiple=True,
    metavar="'PATH OP VALUE'",
    help="A condition (repeat; all must hold), e.g. 'inputs.k_f>=2.1', "
    "'version in 1.0.0,1.1.0', 'created>2024-05-01'. OP: = != > >= < <= in.",
)
@click.option(
    "--sort", "-s", multiple=True, metavar="[-]PATH", help="Sort by PATH (-: descending)."
)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1, max=MAX_LIMIT),
    default=20,
    show_default=True,
    help="At most this many results.",
)
@click.option(
    "--columns",
    "-c",
    help="Comma-separated dotted paths to show, e.g. 'inputs.k_f,outputs.max_sigma' "
    "(default: every input and every scalar output, with units; --json: full precision).",
)
@click.option("--unpublished", is_flag=True, help="Include results held at an approval gate.")
@click.option("--results-url", help="Result store URL (default: LUME_RESULTS_URL or SQLite).")
@json_option
def results(
    model: str | None,
    where: tuple[str, ...],
    sort: tuple[str, ...],
    limit: int,
    columns: str | None,
    unpublished: bool,
    results_url: str | None,
    as_json: bool,
) -> None:
    """Query stored results of MODEL (all models if omitted), newest first by default."""
    from lume_assets.settings import get_settings
    from lume_assets.storage.result_stores import open_result_store

    settings = get_settings()
    query = parse_where(where)
    chosen = parse_columns(columns) if columns else None
    order = parse_sort(sort) or [("created", -1)]
    url = results_url or settings.resolved_results_url()
    missing = missing_sqlite(url)
    if missing is not None:
        if results_url or settings.results_url:  # a store named explicitly must exist
            raise ClientError(
                f"No result store at {missing} (the SQLite file does not exist); check "
                "--results-url / LUME_RESULTS_URL."
            )
        click.echo(f"no results yet: nothing is stored in {missing}; run a model first")
        return
    named = [m.group(1) for m in (_WHERE.match(w) for w in where) if m]
    named += [f.lstrip("-") for f in sort]
    with open_result_store(
        url, project=settings.project, files_root=settings.resolved_files_root()
    ) as store:
        served = check_names(model, named, store, unpublished)
        found = store.find(model, query, sort=order, limit=limit, include_unpublished=unpublished)
    if as_json:
        echo_json([r.model_dump() for r in found])
        return
    if not found:
        condition = f" matching {' and '.join(where)}" if where else ""
        click.echo(f"no results{' of ' + model if model else ''}{condition} (0 rows)")
        return
    paths = chosen or default_columns(found, where, sort)
    head = ["hash", "created"] + ([] if model else ["model"])
    rows = []
    for r in found:
        row = [r.inputs_hash[:12], f"{r.created:%Y-%m-%d %H:%M:%S}"] + ([] if model else [r.model])
        record = r.model_dump()
        rows.append(row + [_get(record, p) for p in paths])
    infos = [served[m] for m in dict.fromkeys(r.model for r in found) if m in served]
    click.echo(table(rows, head + headers(paths, infos)))
    click.echo(f"{len(found)} result(s)")
