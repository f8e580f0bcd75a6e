"""`lume-assets plot MODEL --x inputs.k --y outputs.sigma`: stored results as a PNG.

One input on x: the output as points joined in x order. With `--color inputs.other` (a second
input): a heatmap when the points form a full grid over both inputs, else coloured points.
matplotlib is imported only here, when a plot is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from lume_assets.commands.results import MAX_LIMIT, check_names, missing_sqlite, parse_where
from lume_assets.errors import ClientError
from lume_assets.models.plotting import FigureSpec, render
from lume_assets.models.variables import with_units


def _number(value: Any) -> float | None:
    """A finite float of a stored value, or None (text, arrays, missing)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def column(found: Sequence[Any], path: str) -> list[float | None]:
    """The values at `path` ('inputs.k', 'outputs.sigma') of each result."""
    root, _, name = path.partition(".")
    return [_number(getattr(r, root, {}).get(name)) for r in found]


@click.command()
@click.argument("model")
@click.option("--x", "x_path", required=True, metavar="PATH", help="x axis, e.g. inputs.k_f.")
@click.option("--y", "y_path", required=True, metavar="PATH", help="Value, e.g. outputs.sigma.")
@click.option(
    "--color", "c_path", metavar="PATH", help="A second input: heatmap (grid) or coloured points."
)
@click.option("--where", "-w", multiple=True, metavar="'PATH OP VALUE'", help="As in `results`.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), help="PNG file to write.")
@click.option("--unpublished", is_flag=True, help="Include results held at an approval gate.")
@click.option("--results-url", help="Result store URL (default: LUME_RESULTS_URL or SQLite).")
def plot(
    model: str,
    x_path: str,
    y_path: str,
    c_path: str | None,
    where: tuple[str, ...],
    out: str | None,
    unpublished: bool,
    results_url: str | None,
) -> None:
    """Plot stored results of MODEL: --y over --x (and --color), written as a PNG."""
    from lume_assets.settings import get_settings
    from lume_assets.storage.result_stores import open_result_store

    settings = get_settings()
    url = results_url or settings.resolved_results_url()
    if missing_sqlite(url) is not None:
        raise ClientError(f"No result store at {missing_sqlite(url)}; run a model first.")
    query = parse_where(where)
    paths = [p for p in (x_path, y_path, c_path) if p]
    with open_result_store(
        url, project=settings.project, files_root=settings.resolved_files_root()
    ) as store:
        served = check_names(model, paths, store, unpublished)
        found = store.find(model, query, limit=MAX_LIMIT, include_unpublished=unpublished)
    xs, ys = column(found, x_path), column(found, y_path)
    cs = column(found, c_path) if c_path else [0.0] * len(found)
    points = [(x, y, c) for x, y, c in zip(xs, ys, cs, strict=True) if None not in (x, y, c)]
    if not points:
        raise ClientError(
            f"No results of {model!r} with numbers at {', '.join(paths)}"
            f"{' matching ' + ' and '.join(where) if where else ''}; nothing to plot."
        )
    units = {}
    if model in served:
        info = served[model]
        units = {f"inputs.{v.name}": v.units for v in info.inputs}
        units.update({f"outputs.{v.name}": v.units for v in info.outputs})
    labels = tuple(with_units(p, units.get(p)) if p else "" for p in (x_path, y_path, c_path))
    data = render(
        FigureSpec(
            xs=[p[0] for p in points],
            ys=[p[1] for p in points],
            cs=[p[2] for p in points] if c_path else None,
            labels=labels,  # type: ignore[arg-type]
            title=f"{model}: {len(points)} result(s)",
        )
    )
    name = f"{model}_{y_path.split('.')[-1]}_vs_{x_path.split('.')[-1]}.png"
    target = Path(out or name)
    target.write_bytes(data)
    click.echo(f"wrote {target} ({len(points)} points)")
