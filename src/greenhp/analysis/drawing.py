"""Figure helpers shared by the figures (greenhp.analysis.plots): the matplotlib set-up (Agg
backend), panel grids, saving a figure as ``<stem>.png`` and ``<stem>.svg``, the "no data" figure,
energy axis labels with their estimate note, and placing point labels.

Presentation layer of greenhp.analysis (docs/architecture.md). Importing this module loads
matplotlib: only the figures import it, so that the statistics, the summary and the workflow's
parse stay without matplotlib.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.special import stdtrit  # noqa: E402  (scipy.stats.t.ppf is stdtrit; not the 1 s import of scipy.stats)

from .tables import estimate_note, ok_runs  # noqa: E402

#: Hyperparameters whose mutants are drawn on a log scale (lr * 10^U, weight decay / (1 + 4U)):
#: drawn on log x axes.
LOG_HPS = frozenset({"lr", "weight_decay"})


def panel_grid(n: int, width: float, height: float):
    """A constrained-layout figure of ``n`` panels, at most 3 a row, each ``width`` x ``height``
    inches; unused axes are switched off. Returns (figure, 2-D array of axes)."""
    cols = min(n, 3)
    rows_n = math.ceil(n / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(width * cols, height * rows_n), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    return fig, axes


def _stem(out) -> Path:
    p = Path(out)
    if p.suffix.lower() in (".png", ".svg"):
        p = p.with_suffix("")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


PNG_DPI = 110


def _pin_best_legends(fig, renderer) -> None:
    """Give each legend placed "best" its chosen place as a fixed location. "best" scores each
    candidate place against every point drawn in the axes (100k dots in hp_vs_energy), again on
    every pass over the figure; once the layout is final the answer is the same each time, and
    a fixed location puts the legend exactly there (the same anchored box)."""
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None or getattr(leg, "_loc", None) != 0:  # 0: "best"
            continue
        where = leg.get_window_extent(renderer).p0
        for code in range(1, 11):  # the places "best" chooses among
            leg.set_loc(code)
            if (leg.get_window_extent(renderer).p0 == where).all():
                break
        else:  # not one of them (cannot happen): leave it to "best"
            leg.set_loc(0)


def save(fig, out) -> list[Path]:
    """``<stem>.png`` and ``<stem>.svg``, cropped to the drawn content as
    ``savefig(bbox_inches="tight")`` crops. The figure is laid out (constrained layout), its
    "best" legends placed and its bounding box found once, at the PNG's resolution, then each
    file is drawn once with that layout: ``bbox_inches="tight"`` lays out and draws each file
    twice (with 15 panels of ticks and legends, most of a figure's time). The PNG is the one
    ``bbox_inches="tight"`` writes, byte for byte; the SVG (laid out at 72 dpi before) now has
    the PNG's layout."""
    stem = _stem(out)
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")]
    dpi = fig.dpi
    fig.set_dpi(PNG_DPI)
    renderer = fig.canvas.get_renderer()
    if fig.axes and fig.get_layout_engine() is not None:
        try:  # as Figure.draw does
            fig.get_layout_engine().execute(fig)
        except ValueError:
            pass
    _pin_best_legends(fig, renderer)
    bbox = fig.get_tightbbox(renderer).padded(plt.rcParams["savefig.pad_inches"])
    with plt.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)  # keep that layout for both files
    fig.set_dpi(dpi)
    fig.savefig(paths[0], dpi=PNG_DPI, bbox_inches=bbox)
    with plt.rc_context({"svg.fonttype": "none"}):  # keep text as text: searchable, smaller
        fig.savefig(paths[1], bbox_inches=bbox)
    plt.close(fig)
    return paths


def no_data(out, title: str, reason: str = "") -> list[Path]:
    """A figure titled ``title`` saying "no data" (and ``reason``), saved as save does."""
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.text(0.5, 0.5, "no data" + (f"\n({reason})" if reason else ""), ha="center", va="center",
            fontsize=13, transform=ax.transAxes)
    ax.set_title(title)
    ax.set_axis_off()
    return save(fig, out)


def grid(n: int, w: float = 4.2, h: float = 3.4):
    """panel_grid's used axes as a flat list."""
    fig, axes = panel_grid(n, w, h)
    return fig, list(axes.flat[:n])


def energy_label(rows: pd.DataFrame, base: str = "total energy (J)", note: str | None = None) -> str:
    """``base`` and the estimate note of ``rows`` (or the ``note`` given) after it."""
    note = estimate_note(rows) if note is None else note
    return f"{base} {note}" if note else base


def estimate_notes(runs: pd.DataFrame):
    """``note(subject, mode)``: estimate_note of the ok runs of that subject and mode. A note
    depends only on the runs flagged ``energy_estimated``, so only those are kept and selected
    per panel (selecting among all runs once per panel took ~0.3 s a figure at 100k runs)."""
    if runs.empty or "energy_estimated" not in runs:
        return lambda subject, mode: ""
    ok = ok_runs(runs)
    est = ok[ok["energy_estimated"].fillna(False).astype(bool)]
    return lambda subject, mode: estimate_note(est[(est["subject"] == subject) & (est["mode"] == mode)])


def mean_ci(v: np.ndarray):
    """Mean of the finite values of ``v`` and the half-width of its 95 % t-interval (NaN with
    fewer than two values)."""
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan
    if v.size == 1:
        return v[0], np.nan
    half = stdtrit(v.size - 1, 0.975) * v.std(ddof=1) / math.sqrt(v.size)  # t.ppf(0.975, n - 1)
    return v.mean(), half


def log_axis(ax, h: str, xs) -> None:
    """Log x axis for log-drawn hyperparameters (LOG_HPS) or values spanning over 20x; plain
    number labels (no 10^x offset text that garbles)."""
    xs = np.asarray([x for x in xs if np.isfinite(x)], dtype=float)
    if xs.size and xs.min() > 0 and (h in LOG_HPS or xs.max() / xs.min() > 20):
        ax.set_xscale("log")
        decades = math.log10(xs.max() / xs.min()) if xs.size else 0.0
        ax.xaxis.set_major_formatter(matplotlib.ticker.LogFormatterSciNotation())
        if decades < 1.5:  # few decades: label some minor ticks too (2, 5 x 10^k), small
            ax.xaxis.set_minor_formatter(matplotlib.ticker.LogFormatterSciNotation(
                labelOnlyBase=False, minor_thresholds=(2, 2)))
            ax.xaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=(2.0, 5.0)))
        else:
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.tick_params(axis="x", which="both", labelsize=7)


#: Where a point's label may go, tried in turn (offset in points, alignment): beside the point,
#: not on it; the first place that overlaps no label placed before (or the least bad) is taken.
_LABEL_PLACES = ((4, 2, "left", "bottom"), (4, -2, "left", "top"), (-4, 2, "right", "bottom"),
                 (-4, -2, "right", "top"), (0, 6, "center", "bottom"), (0, -6, "center", "top"))


def _overlap(a, b) -> float:
    """Overlap area of two boxes (x0, y0, x1, y1)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def label_points(ax, xs, ys, labels, fontsize: float = 6) -> list:
    """Write ``labels`` beside the points (xs, ys) of ``ax``, each at the first place of
    _LABEL_PLACES that overlaps no label written before (else the least bad); returns the text
    artists, in the order given. Boxes are measured once per label, in display units, without
    drawing."""
    from matplotlib.font_manager import FontProperties

    fig = ax.figure
    ax.get_xlim(), ax.get_ylim()  # settle the autoscaled limits before measuring
    renderer = fig.canvas.get_renderer()
    prop = FontProperties(size=fontsize)
    px = fig.dpi / 72.0
    at = ax.transData.transform(np.column_stack([np.asarray(xs, float), np.asarray(ys, float)]))
    placed, texts = [], [None] * len(labels)
    for i in sorted(range(len(labels)), key=lambda i: (xs[i], ys[i])):
        w, h, _ = renderer.get_text_width_height_descent(labels[i], prop, ismath=False)
        best = None
        for place in _LABEL_PLACES:
            dx, dy, ha, va = place
            x0 = at[i, 0] + dx * px - (w if ha == "right" else w / 2 if ha == "center" else 0.0)
            y0 = at[i, 1] + dy * px - (h if va == "top" else 0.0)
            box = (x0, y0, x0 + w, y0 + h)
            bad = sum(_overlap(box, b) for b in placed)
            if best is None or bad < best[0]:
                best = (bad, place, box)
            if bad == 0:
                break
        _, (dx, dy, ha, va), box = best
        placed.append(box)
        texts[i] = ax.annotate(labels[i], (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points",
                               ha=ha, va=va, fontsize=fontsize, color="0.2")
    return texts

