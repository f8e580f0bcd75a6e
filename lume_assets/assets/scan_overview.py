"""The overview of a scan materialization: a summary table and a plot, built chunk by chunk.

As each chunk is written, `ScanOverview.add` folds its columns into running statistics (count,
min, max and the scanned inputs at each, per scalar output) and into a fixed grid of bins
(sum and count of the plotted output per bin), then the chunk is freed: memory is O(bins), not
O(points), whatever the scan's size. At the end:

- `summary` — a `MetadataValue.table`, one row per scalar output: points, min, argmin, max,
  argmax (argmin/argmax: the scanned inputs at that point; values to 6 significant digits).
- `overview` — one output (the scan's `plot_output`, else the first scalar output) over the
  first scanned input: a line; over the first two inputs of a product grid: a heatmap (the mean
  over any further inputs). At most `MAX_LINE_BINS` points on a line and `MAX_GRID_BINS` per
  heatmap axis (an axis with more values is binned evenly; a bin shows its mean). Drawn by
  `lume_assets.models.plotting.render`, the helper of `lume-assets plot`, and written once as a
  content-addressed PNG (`<scan key>/overview/<digest of the chunk files>.png`): re-running the
  same points (all cache hits) finds the file and neither renders nor writes it again. Dagit
  shows it inline through `lume_assets.assets.plot_links` (`overview`, `overview_path`).
"""

from collections.abc import Mapping, Sequence

import dagster as dg
import numpy as np

from lume_assets.errors import ModelError
from lume_assets.models.model import ModelSpec
from lume_assets.models.plotting import FigureSpec
from lume_assets.models.variables import ScalarVariable, with_units

__all__ = ["MAX_GRID_BINS", "MAX_LINE_BINS", "OVERVIEW_FOLDER", "ScanOverview"]

MAX_LINE_BINS = 2000  # points of an overview line
MAX_GRID_BINS = 200  # cells per axis of an overview heatmap
OVERVIEW_INCHES = (5.6, 4.0)  # 560 x 400 px at the helper's 100 dpi
OVERVIEW_FOLDER = "overview"  # beside the scan's chunk folders (chunk keys are '<name>-NNNNN')


class _Axis:
    """Bins of one plotted input: its own values when few, else even bins over its range."""

    def __init__(self, values: np.ndarray, max_bins: int) -> None:
        grid = np.unique(np.asarray(values, dtype=float))
        self.exact = len(grid) <= max_bins
        if self.exact:
            self.centers = grid
        else:
            self.low, self.high = float(grid[0]), float(grid[-1])
            edges = np.linspace(self.low, self.high, max_bins + 1)
            self.centers = (edges[:-1] + edges[1:]) / 2

    def index(self, values: np.ndarray) -> np.ndarray:
        """The bin of each value."""
        values = np.asarray(values, dtype=float)
        n = len(self.centers)
        if self.exact:
            return np.clip(np.searchsorted(self.centers, values), 0, n - 1)
        scaled = (values - self.low) / (self.high - self.low) * n
        return np.clip(scaled.astype(np.int64), 0, n - 1)


class _Extremes:
    """Running count, min and max of one output, with the scanned inputs at each."""

    def __init__(self) -> None:
        self.count = 0
        self.low: tuple[float, dict[str, float]] | None = None
        self.high: tuple[float, dict[str, float]] | None = None

    def add(self, values: np.ndarray, inputs: Mapping[str, np.ndarray]) -> None:
        """Fold one chunk's values in (non-finite values are skipped)."""
        finite = np.isfinite(values)
        if not finite.any():
            return
        self.count += int(finite.sum())
        masked = np.where(finite, values, np.nan)
        for attr, pick in (("low", np.nanargmin), ("high", np.nanargmax)):
            at = int(pick(masked))
            value = float(values[at])
            best = getattr(self, attr)
            if best is None or (value < best[0] if attr == "low" else value > best[0]):
                setattr(self, attr, (value, {n: float(c[at]) for n, c in inputs.items()}))


def _rounded(value: float | None) -> float | None:
    """`value` to 6 significant digits (a readable table; the stored results keep all)."""
    return None if value is None else float(f"{value:.6g}")


def _where(inputs: Mapping[str, float] | None) -> str:
    """'k=0.5, drift=3' for a point's scanned inputs."""
    return ", ".join(f"{n}={v:.6g}" for n, v in (inputs or {}).items())


class ScanOverview:
    """Summary statistics and a binned plot of a scan, accumulated chunk by chunk."""

    def __init__(
        self,
        spec: ModelSpec,
        axes: Mapping[str, np.ndarray],
        *,
        grid: bool,
        plot_output: str | None = None,
    ) -> None:
        """`axes`: each scanned input's values; `grid`: the points are their product."""
        self.spec = spec
        self.scanned = list(axes)
        self.scalars = [v for v in spec.outputs if isinstance(v, ScalarVariable)]
        names = [v.name for v in self.scalars]
        if plot_output is not None and plot_output not in names:
            raise ModelError(
                f"Scan plot_output {plot_output!r} is not a scalar output of {spec.name!r}; "
                f"choose one of {names}."
            )
        self.plotted = plot_output or (names[0] if names else None)
        self.extremes = {n: _Extremes() for n in names}
        plotted_axes = self.scanned[:2] if grid and len(self.scanned) > 1 else self.scanned[:1]
        cap = MAX_GRID_BINS if len(plotted_axes) == 2 else MAX_LINE_BINS
        self.axes = {n: _Axis(axes[n], cap) for n in plotted_axes}
        shape = tuple(len(a.centers) for a in self.axes.values())
        self.sums = np.zeros(shape)
        self.counts = np.zeros(shape, dtype=np.int64)

    def add(self, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> None:
        """Fold one chunk's columns (inputs and outputs, one array each) into the overview."""
        scanned = {n: np.asarray(inputs[n], dtype=float) for n in self.scanned}
        for name, extremes in self.extremes.items():
            extremes.add(np.asarray(outputs[name], dtype=float), scanned)
        if self.plotted is None:
            return
        values = np.asarray(outputs[self.plotted], dtype=float)
        keep = np.isfinite(values)
        cells = tuple(a.index(scanned[n][keep]) for n, a in self.axes.items())
        flat = np.ravel_multi_index(cells, self.sums.shape)
        size = self.sums.size
        self.sums += np.bincount(flat, values[keep], minlength=size).reshape(self.sums.shape)
        self.counts += np.bincount(flat, minlength=size).reshape(self.counts.shape)

    def summary(self) -> dg.TableMetadataValue:
        """One row per scalar output: points, min, argmin, max, argmax."""
        rows = []
        for var in self.scalars:
            ex = self.extremes[var.name]
            low, high = ex.low or (None, None), ex.high or (None, None)
            rows.append(
                dg.TableRecord(
                    {
                        "output": var.name,
                        "units": var.units or "",
                        "points": ex.count,
                        "min": _rounded(low[0]),
                        "argmin": _where(low[1]),
                        "max": _rounded(high[0]),
                        "argmax": _where(high[1]),
                    }
                )
            )
        schema = dg.TableSchema(
            columns=[
                dg.TableColumn("output", "string"),
                dg.TableColumn("units", "string"),
                dg.TableColumn("points", "int"),
                dg.TableColumn("min", "float"),
                dg.TableColumn("argmin", "string", description="scanned inputs at the min"),
                dg.TableColumn("max", "float"),
                dg.TableColumn("argmax", "string", description="scanned inputs at the max"),
            ]
        )
        return dg.MetadataValue.table(rows, schema=schema)

    def _label(self, name: str, inputs: bool) -> str:
        """An axis label with units."""
        variables = self.spec.inputs if inputs else self.spec.outputs
        units = next((getattr(v, "units", None) for v in variables if v.name == name), None)
        return with_units(name, units)

    def figure(self, title: str) -> FigureSpec | None:
        """The overview plot's data, labels and size; None when nothing plottable was seen."""
        if self.plotted is None or not self.counts.any():
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(self.counts > 0, self.sums / self.counts, np.nan)
        centers = [a.centers for a in self.axes.values()]
        names = list(self.axes)
        y_label = self._label(self.plotted, inputs=False)
        rest = [n for n in self.scanned if n not in self.axes]
        binned = any(not a.exact for a in self.axes.values())
        notes = [f"mean over {', '.join(rest)}" if rest else "", "binned" if binned else ""]
        note = "; ".join(n for n in notes if n)
        shown = {"title": title + (f" ({note})" if note else ""), "inches": OVERVIEW_INCHES}
        if len(names) == 1:
            seen = self.counts > 0
            return FigureSpec(
                xs=centers[0][seen].tolist(),
                ys=means[seen].tolist(),
                labels=(self._label(names[0], True), y_label, ""),
                **shown,
            )
        xs, cs = np.meshgrid(centers[0], centers[1], indexing="ij")
        return FigureSpec(
            xs=xs.ravel().tolist(),
            ys=means.ravel().tolist(),
            cs=cs.ravel().tolist(),
            labels=(self._label(names[0], True), y_label, self._label(names[1], True)),
            **shown,
        )

    def cache_key(self, chunk_digests: Sequence[str]) -> list[str]:
        """What the overview PNG depends on: the chunk files and what is plotted."""
        return [*chunk_digests, f"plot={self.plotted}", f"axes={','.join(self.axes)}", "v1"]
