"""`lume-assets results MODEL --where 'inputs.k>=1'`: query stored results as a table or JSON."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import click

from lume_assets.commands.common import echo_json, json_option, parse_value, table

_OPS = {">=": "$gte", "<=": "$lte", "!=": "$ne", "==": "$eq", "=": "$eq", ">": "$gt", "<": "$lt"}
_WHERE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|!=|==|=|>|<|\s+in\s+)\s*(.*?)\s*$")


def parse_where(clauses: Sequence[str]) -> dict[str, Any] | None:
    """`path OP value` clauses (OP: = == != > >= < <= in) as one Mongo-style filter (AND)."""
    conditions = []
    for clause in clauses:
        match = _WHERE.match(clause)
        if not match or not match.group(3) or match.group(3)[0] in "<>=!":
            raise click.BadParameter(
                f"{clause!r} is not PATH OP VALUE; e.g. 'inputs.k_f>=2', "
                "'outputs.max_sigma<3', 'model_version in 1.0,1.1'",
                param_hint="--where",
            )
        path, op, raw = match.groups()
        if op.strip() == "in":
            value: Any = {"$in": [parse_value(v.strip()) for v in raw.split(",") if v.strip()]}
        else:
            value = {_OPS[op]: parse_value(raw)}
        conditions.append({path: value})
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


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
    """Columns: the inputs named in --where/--sort, then every scalar output."""
    named = [m.group(1) for m in (_WHERE.match(w) for w in where) if m]
    named += [s.lstrip("-") for s in sort]
    columns = list(dict.fromkeys(p for p in named if p.startswith("inputs.")))
    if found:
        columns += [f"outputs.{k}" for k, v in found[0].outputs.items() if _scalar(v)]
    return columns


@click.command()
@click.argument("model", required=False)
@click.option(
    "--where",
    "-w",
    multiple=True,
    metavar="'PATH OP VALUE'",
    help="A condition (repeat; all must hold), e.g. 'inputs.k_f>=2.1'. OP: = != > >= < <= in.",
)
@click.option(
    "--sort", "-s", multiple=True, metavar="[-]PATH", help="Sort by PATH (-: descending)."
)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="At most this many results.",
)
@click.option(
    "--columns",
    "-c",
    help="Comma-separated dotted paths to show (default: inputs you "
    "filter on and every scalar output).",
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
    with open_result_store(
        results_url or settings.resolved_results_url(),
        project=settings.project,
        files_root=settings.resolved_files_root(),
    ) as store:
        found = store.find(model, query, sort=order, limit=limit, include_unpublished=unpublished)
    if as_json:
        echo_json([r.model_dump() for r in found])
        return
    if not found:
        click.echo("no results" + (f" for {model}" if model else "") + " match")
        return
    paths = chosen or default_columns(found, where, sort)
    head = ["hash", "created"] + ([] if model else ["model"])
    rows = []
    for r in found:
        row = [r.inputs_hash[:12], f"{r.created:%Y-%m-%d %H:%M:%S}"] + ([] if model else [r.model])
        record = r.model_dump()
        rows.append(row + [_get(record, p) for p in paths])
    click.echo(table(rows, head + paths))
    click.echo(f"{len(found)} result(s)")
