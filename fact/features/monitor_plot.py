"""A Figure-8-like view of any model's monitor table (``fact.features.monitor``): per weight matrix, how
well each relation matches W^T W (or W W^T) over training, beside how far the matrix is from a
critical point, with tau on a top axis. Needs matplotlib (the ``pipeline`` extra)."""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from fact.features.names import MEASURE_LABELS, MEASURES, relation_label


def plot_monitor(table: pd.DataFrame, layers=None, columns: int = 4, measure: str = "pearson"):
    """One panel per weight matrix (``layers``, all by default): ``measure`` of each relation against the
    step (solid), the stationarity error on a log axis at the right (dashed grey: FACT holds where it is
    small), and tau on a top axis where the optimizer has one. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    layers = _layers(table, layers)
    if isinstance(columns, bool) or not (isinstance(columns, numbers.Integral) and columns >= 1):
        raise ValueError(f"columns must be a whole number of panels per row >= 1, got {columns!r}")
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    rows = math.ceil(len(layers) / columns)
    figure, axes = plt.subplots(rows, min(columns, len(layers)), figsize=(3.4 * min(columns, len(layers)), 2.9 * rows),
                                squeeze=False, layout="constrained")  # fmt: skip
    for axis, layer in zip(axes.flat, layers):
        _panel(axis, table[table.layer == layer], layer, measure)
    for axis in axes.flat[len(layers) :]:
        axis.set_visible(False)
    legend = {}  # label -> handle, over every panel: a relation some layers lack is still named
    for axis in axes.flat[: len(layers)]:
        legend.update(
            {label: handle for handle, label in zip(*axis.get_legend_handles_labels()) if label not in legend}
        )
    figure.legend(legend.values(), legend.keys(), loc="outside lower center", ncols=min(len(legend), 7), fontsize=7)
    return figure


def _layers(table: pd.DataFrame, layers) -> list[str]:
    """The layers to draw: all the table's, or the named ones, each of which must be in it."""
    present = list(dict.fromkeys(table.layer))
    if not present:
        raise ValueError("the table has no rows to plot: record at least once (monitor.record())")
    if layers is None:
        return present
    layers = [layers] if isinstance(layers, str) else list(layers)
    unknown = [layer for layer in layers if layer not in present]
    if unknown or not layers:
        raise ValueError(f"no rows of layers {unknown or layers}; the table's layers are {present}")
    return layers


def _limits(values: pd.Series, measure: str) -> tuple[float, float]:
    """A y range that holds every finite value: correlations within [-1, 1] shown from 0 (or their least)
    to 1, a relative error from 0 to its largest."""
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if measure == "relative_error":
        return 0.0, max(high, 1e-12) * 1.05
    return min(-0.05, low - 0.05), max(1.05, high + 0.05)


def _panel(axis, rows: pd.DataFrame, layer: str, measure: str) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    for (relation, power), curve in rows.groupby(["relation", "power"], dropna=False, sort=False):
        label = relation_label(relation, None if np.isnan(power) else power)
        axis.plot(curve.step, curve[measure], marker=".", label=label)
    axis.set(xlabel="step", ylim=_limits(rows[measure], measure))
    axis.set_ylabel(MEASURE_LABELS[measure])
    stationarity = rows.drop_duplicates("step")
    right = axis.twinx()
    right.plot(stationarity.step, stationarity.stationarity_error, color="grey", linestyle="--")
    right.set_yscale("log")
    errors = stationarity.stationarity_error.to_numpy(float)
    errors = errors[np.isfinite(errors) & (errors > 0)]
    if len(errors):  # matplotlib's own log ticks crowd a panel this small, both within a decade and over many
        right.yaxis.set_major_locator(FixedLocator(log_ticks(errors.min(), errors.max())))
        right.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        right.yaxis.set_minor_formatter(NullFormatter())
    right.set_ylabel("stationarity error (dashed)", fontsize=7)
    right.tick_params(labelsize=7)
    has_tau = _tau_axis(axis, stationarity)
    axis.set_title(layer, fontsize=8, pad=22 if has_tau else 6)


def log_ticks(low: float, high: float, most: int = 5) -> list[float]:
    """At most ``most`` ticks, and at least two, for a log axis over [low, high] (> 0): the 1, 2 and 5 of each
    decade, thinned to every decade or every few where they are too many, the ends themselves where too few."""
    decades = range(math.floor(math.log10(low)), math.floor(math.log10(high)) + 1)
    for mantissas, stride in (((1, 2, 5), 1), ((1, 3), 1), ((1,), 1), ((1,), 2), ((1,), 3), ((1,), 5), ((1,), 10)):
        ticks = [m * 10.0**k for k in decades[::stride] for m in mantissas if low <= m * 10.0**k <= high]
        if len(ticks) <= most:
            break
    if len(ticks) >= 2:
        return ticks
    return [float(f"{low:.2g}"), float(f"{high:.2g}")] if f"{low:.2g}" != f"{high:.2g}" else [float(f"{low:.2g}")]


def _tau_axis(axis, rows: pd.DataFrame) -> bool:
    """tau on a top axis, mapped from the step, where it is known and grows; whether there is one."""
    from matplotlib.ticker import MaxNLocator

    steps, tau = rows.step.to_numpy(float), rows.tau.to_numpy(float)
    if len(steps) < 2 or not np.isfinite(tau).all() or not (np.diff(tau) > 0).all():
        return False
    top = axis.secondary_xaxis("top", functions=(_linear(steps, tau), _linear(tau, steps)))
    top.set_xlabel("τ", fontsize=8, labelpad=2)
    top.xaxis.set_major_locator(MaxNLocator(nbins=4))  # the labels of a panel 3 inches wide do not overlap
    top.tick_params(labelsize=7)
    return True


def _linear(x: np.ndarray, y: np.ndarray):
    """x -> y through the points, extended linearly past both ends (not clamped: clamping would stack the
    ticks beyond the first record on its edge)."""

    def mapped(values):
        values = np.asarray(values, dtype=float)
        inside = np.interp(values, x, y)
        before = y[0] + (values - x[0]) * (y[1] - y[0]) / (x[1] - x[0])
        after = y[-1] + (values - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2])
        return np.where(values < x[0], before, np.where(values > x[-1], after, inside))

    return mapped
