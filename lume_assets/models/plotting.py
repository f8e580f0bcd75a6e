"""Figures of model results: one drawing helper for `lume-assets plot` and the scan overview.

`draw` makes a line over one input, or a heatmap (a full grid) / coloured points over two;
`png` turns a figure into PNG bytes; `render` does both for a `FigureSpec` (what a figure
shows, as plain data: it can be drawn in another process, `plot_process`). matplotlib is
imported only when a figure is drawn, so importing this module (the definitions do) stays cheap.
"""

from __future__ import annotations

import io
from typing import Any

from pydantic import BaseModel, ConfigDict


class FigureSpec(BaseModel):
    """What `render` draws: `draw`'s data and labels, a title and a size (inches)."""

    model_config = ConfigDict(ser_json_inf_nan="constants")  # NaN: an empty heatmap cell

    xs: list[float]
    ys: list[float]
    cs: list[float] | None = None
    labels: tuple[str, str, str]
    title: str = ""
    inches: tuple[float, float] | None = None


def render(spec: FigureSpec) -> bytes:
    """The PNG bytes of the figure `spec` describes."""
    figure = draw(spec.xs, spec.ys, spec.cs, spec.labels)
    if spec.title:
        figure.axes[0].set_title(spec.title)
    if spec.inches is not None:
        figure.set_size_inches(*spec.inches)
    figure.tight_layout()
    return png(figure)


def draw(
    xs: list[float], ys: list[float], cs: list[float] | None, labels: tuple[str, str, str]
) -> Any:
    """A matplotlib Figure: a line over x, or a heatmap / coloured points over (x, colour)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.4), dpi=100)
    axes = figure.add_subplot()
    x_label, y_label, c_label = labels
    if cs is None:
        pairs = sorted(zip(xs, ys, strict=True))
        axes.plot([p[0] for p in pairs], [p[1] for p in pairs], marker="o", markersize=3)
        axes.set_ylabel(y_label)
    else:
        grid_x, grid_c = sorted(set(xs)), sorted(set(cs))
        if len(grid_x) > 1 and len(grid_c) > 1 and len(grid_x) * len(grid_c) == len(xs):
            import numpy as np

            at_x = {x: i for i, x in enumerate(grid_x)}
            at_c = {c: i for i, c in enumerate(grid_c)}
            values = np.full((len(grid_c), len(grid_x)), np.nan)
            for x, c, y in zip(xs, cs, ys, strict=True):
                values[at_c[c], at_x[x]] = y
            mesh = axes.pcolormesh(grid_x, grid_c, values, shading="nearest")
        else:
            mesh = axes.scatter(xs, cs, c=ys, s=12)
        figure.colorbar(mesh, ax=axes, label=y_label)
        axes.set_ylabel(c_label)
    axes.set_xlabel(x_label)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def png(figure: Any) -> bytes:
    """The PNG bytes of a matplotlib figure."""
    buf = io.BytesIO()
    figure.savefig(buf, format="png")
    return buf.getvalue()
