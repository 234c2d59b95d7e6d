"""Figures of a study (matplotlib, Agg backend). Each function saves ``<stem>.png`` and
``<stem>.svg`` and returns the written paths. Degenerate data gives a figure saying "no data"
instead of an error. Any figure drawn from rows whose energy is an estimate says so in its
labels: "(estimated: <methods>)"."""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.special import stdtrit  # noqa: E402  (scipy.stats.t.ppf is stdtrit; not the 1 s import of scipy.stats)

from greenhp.energy.command import timeline_path_for  # noqa: E402

from .epochs import DEFAULT_WINDOW  # noqa: E402
from .tables import (  # noqa: E402
    HP_PREFIX, METHOD_COLUMNS, ORIGINAL, TASK_METRIC, better_word, direction_of, estimate_note,
    ok_runs, partner_key,
)

log = logging.getLogger(__name__)

PLOT_NAMES = ("correlation_heatmap", "hp_vs_energy", "tradeoff", "sensitivity", "power_timeline")
#: Hyperparameters whose mutants are drawn on a log scale (lr * 10^U, weight decay / (1 + 4U)):
#: drawn on log x axes.
LOG_HPS = frozenset({"lr", "weight_decay"})
#: figures drawn from results/epochs.tsv (studies with phase marks; not in a re-analysis)
EPOCH_PLOT_NAMES = ("epoch_curves",)
#: A figure drawing more dots than this (one per run) draws them as an image in its SVG
#: (``rasterized``; axes, lines and text stay vector): 100k vector markers make a 17 MB SVG that
#: takes seconds to write and to open. The PNG is the same either way.
RASTER_POINTS = 5000
HEATMAP_METRICS = ("total_energy_j", "gpu_energy_j", "cpu_energy_j", "dram_energy_j",
                   "total_net_energy_j", "duration_s", TASK_METRIC)



def _panel_grid(n: int, width: float, height: float):
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


def _save(fig, out) -> list[Path]:
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


def _no_data(out, title: str, reason: str = "") -> list[Path]:
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.text(0.5, 0.5, "no data" + (f"\n({reason})" if reason else ""), ha="center", va="center",
            fontsize=13, transform=ax.transAxes)
    ax.set_title(title)
    ax.set_axis_off()
    return _save(fig, out)


def _grid(n: int, w: float = 4.2, h: float = 3.4):
    """_panel_grid's used axes as a flat list."""
    fig, axes = _panel_grid(n, w, h)
    return fig, list(axes.flat[:n])


def _energy_label(rows: pd.DataFrame, base: str = "total energy (J)", note: str | None = None) -> str:
    """``base`` and the estimate note of ``rows`` (or the ``note`` given) after it."""
    note = estimate_note(rows) if note is None else note
    return f"{base} {note}" if note else base


def _estimate_notes(runs: pd.DataFrame):
    """``note(subject, mode)``: estimate_note of the ok runs of that subject and mode. A note
    depends only on the runs flagged ``energy_estimated``, so only those are kept and selected
    per panel (selecting among all runs once per panel took ~0.3 s a figure at 100k runs)."""
    if runs.empty or "energy_estimated" not in runs:
        return lambda subject, mode: ""
    ok = ok_runs(runs)
    est = ok[ok["energy_estimated"].fillna(False).astype(bool)]
    return lambda subject, mode: estimate_note(est[(est["subject"] == subject) & (est["mode"] == mode)])


def _stars(q: float) -> str:
    if not np.isfinite(q):
        return ""
    return "***" if q < 0.001 else "**" if q < 0.01 else "*" if q < 0.05 else ""


def _panel_title(subject, mode, partner=None) -> str:
    if mode == "pair" and isinstance(partner, str) and partner:
        return f"{subject} (pair)\nbeside {partner}"
    return f"{subject} ({mode})"


def _text_colour(value: float, cmap, norm) -> str:
    """Black or white, whichever reads better on the cell colour of ``value``."""
    if not np.isfinite(value):
        return "black"
    r, g, b, _ = cmap(norm(value))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def correlation_heatmap(correlations: pd.DataFrame, runs: pd.DataFrame, out) -> list[Path]:
    """Spearman coefficients, hyperparameter x metric, one panel per subject x mode x partner;
    stars from BH q-values (* < 0.05, ** < 0.01, *** < 0.001); the task metric's column names the
    metric and which way it is better (its declared direction)."""
    fig = draw_correlation_heatmap(correlations, runs)
    return _no_data(out, HEATMAP_TITLE) if fig is None else _save(fig, out)


HEATMAP_TITLE = "Spearman correlation of hyperparameters with metrics"


def task_metric_label(rows: pd.DataFrame, what: str = "") -> str:
    """"<metric name> (higher is better)" for the task metric of ``rows`` (one subject's runs), by
    its declared direction (tables.direction_of); "task metric" when the rows name none."""
    names = rows["metric_name"].dropna() if "metric_name" in rows else pd.Series(dtype=object)
    better = better_word(direction_of(rows, what))
    return (str(names.iloc[0]) if not names.empty else "task metric") + (f" ({better})" if better else "")


def draw_correlation_heatmap(correlations: pd.DataFrame, runs: pd.DataFrame):
    """The figure of correlation_heatmap (not saved), or None when there is nothing to draw."""
    c = correlations[correlations["method"] == "spearman"] if not correlations.empty else correlations
    if c.empty or c["coefficient"].notna().sum() == 0:
        return None
    c = c.assign(_p=partner_key(c["partner"]) if "partner" in c else "")
    panels = list(c.groupby(["subject", "mode", "_p"], sort=True))
    fig, axes = _panel_grid(len(panels), 6.4, 4.6)
    cmap = plt.get_cmap("RdBu_r")
    norm = matplotlib.colors.Normalize(vmin=-1, vmax=1)
    im = None
    notes = _estimate_notes(runs)
    for ax, ((subject, mode, partner), g) in zip(axes.flat, panels):
        metrics = [m for m in HEATMAP_METRICS if m in set(g["metric"])] + sorted(
            set(g["metric"]) - set(HEATMAP_METRICS))
        hps = sorted(g["hyperparameter"].unique())
        coef = g.pivot_table(index="hyperparameter", columns="metric", values="coefficient",
                             aggfunc="first", dropna=False).reindex(index=hps, columns=metrics)
        q = g.pivot_table(index="hyperparameter", columns="metric", values="q_value",
                          aggfunc="first", dropna=False).reindex(index=hps, columns=metrics)
        im = ax.imshow(coef.to_numpy(float), cmap=cmap, norm=norm, aspect="auto")
        for i in range(len(hps)):
            for j in range(len(metrics)):
                v = coef.iat[i, j]
                txt = "n/a" if not np.isfinite(v) else f"{v:.2f}{_stars(q.iat[i, j])}"
                ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                        color=_text_colour(v, cmap, norm))
        task = task_metric_label(runs[runs["subject"] == subject] if not runs.empty else runs,
                                 f"subject {subject!r}")
        ax.set_xticks(range(len(metrics)), [task if m == TASK_METRIC else m.replace("_j", "")
                                            for m in metrics], rotation=40, ha="right", fontsize=7)
        ax.set_yticks(range(len(hps)), hps, fontsize=8)
        note = notes(subject, mode)
        ax.set_title(_panel_title(subject, mode, partner) + (f"\n{note}" if note else ""), fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label="Spearman rho")
    fig.suptitle(HEATMAP_TITLE + "  [* q<0.05, ** q<0.01, *** q<0.001]", fontsize=10)
    return fig


def _mean_ci(v: np.ndarray):
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan
    if v.size == 1:
        return v[0], np.nan
    half = stdtrit(v.size - 1, 0.975) * v.std(ddof=1) / math.sqrt(v.size)  # t.ppf(0.975, n - 1)
    return v.mean(), half


def _log_axis(ax, h: str, xs) -> None:
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


def hp_vs_energy(runs: pd.DataFrame, out, energy_metric: str | Mapping[str, str] = "total_energy_j") -> list[Path]:
    """Mean +- 95% t-interval of energy per hyperparameter value (original included), one panel
    per subject x hyperparameter, one line per mode and partner, and every run as a dot (with 2 or 3
    repetitions the t-interval is very wide: the dots show what was measured). Energies never go
    below 0, so the axis starts at 0 at the lowest and an interval reaching below it is cut there.
    ``energy_metric``: the runs-table column drawn, or {subject: column} where subjects are on
    different energy windows (greenhp.analysis.epochs.window_plan); each panel's axis names its own."""
    per = dict(energy_metric) if isinstance(energy_metric, Mapping) else {}
    default = "total_energy_j" if per else energy_metric
    cols = sorted(set(per.values()) | ({default} if not per else set()))
    title = f"{' or '.join(cols)} per hyperparameter value (mean ± 95% CI; dots: runs)"
    ok = ok_runs(runs) if not runs.empty else runs
    if ok.empty or not any(c in ok and ok[c].notna().any() for c in cols):
        return _no_data(out, title)
    # only the columns drawn or labelled: each group and panel below copies its rows
    used = {"subject", "hyperparameter", "mode", "partner", *cols, "energy_estimated",
            *METHOD_COLUMNS}
    ok = ok[[c for c in ok.columns if c in used or c.startswith(HP_PREFIX)]]
    ok = ok.assign(_p=partner_key(ok["partner"]).where(ok["mode"] == "pair", ""))
    panels = []
    for subject, g in ok.groupby("subject", sort=True):
        if per.get(subject, default) not in g:
            continue
        for h in sorted(x for x in g["hyperparameter"].dropna().unique() if x != ORIGINAL):
            if HP_PREFIX + h in g:
                panels.append((subject, h, g[g["hyperparameter"].isin([ORIGINAL, h])]))
    if not panels:
        return _no_data(out, title, "no mutants")
    fig, axes = _panel_grid(len(panels), 4.6, 3.8)
    rasterized = sum(len(g) for _, _, g in panels) > RASTER_POINTS
    for ax, (subject, h, g) in zip(axes.flat, panels):
        energy_metric = per.get(subject, default)
        drawn = False
        all_x = []
        for (mode, partner), gm in g.groupby(["mode", "_p"], sort=True):
            x = pd.to_numeric(gm[HP_PREFIX + h], errors="coerce")
            y = gm[energy_metric]
            pts = []
            for xv, yy in y.groupby(x):
                m, half = _mean_ci(yy.to_numpy(float))
                if np.isfinite(m):
                    pts.append((xv, m, half))
            if pts:
                xs, ms, hs = map(np.array, zip(*pts))
                all_x.extend(xs)
                label = mode if mode != "pair" else f"pair beside {partner or '?'}"
                line = ax.errorbar(xs, ms, yerr=np.where(np.isfinite(hs), hs, 0), marker="o", capsize=3,
                                   label=label)
                ax.scatter(x, y, s=10, alpha=0.6, color=line[0].get_color(), zorder=3,
                           rasterized=rasterized)
                drawn = True
                orig = gm.loc[gm["hyperparameter"] == ORIGINAL, HP_PREFIX + h]
                if orig.notna().any():
                    ax.axvline(float(orig.dropna().iloc[0]), color="grey", ls=":", lw=1)
        _log_axis(ax, h, all_x)
        if not drawn:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.legend(fontsize=6)
            if ax.get_ylim()[0] < 0 and (g[energy_metric].dropna() >= 0).all():
                ax.set_ylim(bottom=0)
        ax.set_xlabel(f"{h} (dotted: original)" + (", log scale" if ax.get_xscale() == "log" else ""),
                      fontsize=8)
        ax.set_ylabel(_energy_label(g, energy_metric) + " (lower is better)", fontsize=7)
        ax.yaxis.set_major_formatter(matplotlib.ticker.EngFormatter(unit="J"))
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(subject, fontsize=9)
    fig.suptitle(title, fontsize=10)
    return _save(fig, out)


def configuration_label(hyperparameter, value, mutant_id) -> str:
    """A configuration as a reader names it: "original", else "<hyperparameter>=<value>" (the
    mutant id's tail when the value is unknown)."""
    if hyperparameter == ORIGINAL:
        return "original"
    try:
        v = float(value)
        if np.isfinite(v) and isinstance(hyperparameter, str):
            return f"{hyperparameter}={v:.3g}"
    except (TypeError, ValueError):
        pass
    return str(mutant_id).split("__", 1)[-1]


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


def tradeoff(runs: pd.DataFrame, pareto: pd.DataFrame, out) -> list[Path]:
    """Energy vs task metric per configuration (means), Pareto front as a line, per subject x
    mode x partner; the axes say which way is better (the metric's declared direction) and each
    point is labelled with its configuration (configuration_label)."""
    fig = draw_tradeoff(runs, pareto)
    return _no_data(out, TRADEOFF_TITLE) if fig is None else _save(fig, out)


TRADEOFF_TITLE = "Energy vs task metric (Pareto front)"


def draw_tradeoff(runs: pd.DataFrame, pareto: pd.DataFrame):
    """The figure of tradeoff (not saved), or None when there is nothing to draw."""
    from .epochs import configuration_key

    p = pareto.dropna(subset=["mean_energy_j", "mean_metric"]) if not pareto.empty else pareto
    if p.empty:
        return None
    p = p.assign(_p=partner_key(p["partner"]) if "partner" in p else "")
    panels = list(p.groupby(["subject", "mode", "_p"], sort=True))
    fig, axes = _panel_grid(len(panels), 4.8, 3.9)
    notes = _estimate_notes(runs)
    for ax, ((subject, mode, partner), g) in zip(axes.flat, panels):
        g = g.iloc[sorted(range(len(g)), key=lambda i: configuration_key(
            g["mutant_id"].iat[i], g["hyperparameter"].iat[i], g["value"].iat[i]))]
        opt = g["pareto_optimal"].astype(str).str.lower() == "true"
        ax.scatter(g.loc[~opt, "mean_energy_j"], g.loc[~opt, "mean_metric"], c="tab:grey", s=18,
                   label="configuration")
        front = g[opt].sort_values("mean_energy_j")
        ax.plot(front["mean_energy_j"], front["mean_metric"], "o-", c="tab:green", ms=5,
                label="Pareto front")
        orig = g[g["hyperparameter"] == ORIGINAL]
        ax.scatter(orig["mean_energy_j"], orig["mean_metric"], marker="*", s=120, c="tab:red",
                   label="original", zorder=3)
        ax.set_xlabel(_energy_label(g, f"mean {g['energy_metric'].iloc[0]}", notes(subject, mode))
                      + " (lower is better)", fontsize=7)
        ax.set_ylabel(f"mean {task_metric_label(g, f'subject {subject!r}')}", fontsize=8)
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(unit="J"))
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
        ax.tick_params(labelsize=7)
        ax.margins(0.12)  # room for the labels of the outermost points
        ax.set_title(_panel_title(subject, mode, partner), fontsize=9)
        ax.legend(fontsize=6)
        label_points(ax, g["mean_energy_j"].to_numpy(float), g["mean_metric"].to_numpy(float),
                     [configuration_label(h, v, m) for h, v, m in
                      zip(g["hyperparameter"], g["value"], g["mutant_id"])])
    fig.suptitle(TRADEOFF_TITLE, fontsize=10)
    return fig


def sensitivity(per_mutant: pd.DataFrame, runs: pd.DataFrame, out) -> list[Path]:
    """Relative energy change of each mutant vs its original: single (x) vs pair (y), y = x line."""
    title = "Energy change vs original: single vs pair mode"
    d = (per_mutant.dropna(subset=["rel_change_single", "rel_change_pair"])
         if not per_mutant.empty else per_mutant)
    if d.empty:
        return _no_data(out, title, "no mutant measured in both modes")
    fig, ax = plt.subplots(figsize=(6.0, 4.8), layout="constrained")
    keys = ["subject", "partner"] if "partner" in d else ["subject"]
    for key, g in d.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        label = key[0] + (f" beside {key[1]}" if len(key) > 1 and isinstance(key[1], str) else "")
        if d["energy_metric"].nunique() > 1:  # subjects on different windows: each says its own
            label += f" ({g['energy_metric'].iloc[0]})"
        ax.scatter(100 * g["rel_change_single"], 100 * g["rel_change_pair"], label=label, s=22)
    lim = 100 * np.nanmax(np.abs(d[["rel_change_single", "rel_change_pair"]].to_numpy(float)))
    lim = max(lim * 1.1, 1.0)
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=1, label="equal change")
    ax.axhline(0, c="grey", lw=0.5)
    ax.axvline(0, c="grey", lw=0.5)
    note = estimate_note(ok_runs(runs)) if not runs.empty else ""
    metric = " or ".join(sorted(set(d["energy_metric"].astype(str))))  # one per subject's window
    ax.set_xlabel(f"single: {metric} change (%) {note}".strip(), fontsize=8)
    ax.set_ylabel(f"pair: {metric} change (%) {note}".strip(), fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return _save(fig, out)


def power_timeline(timeline_tsv, out, methods: str | None = None, label: str | None = None) -> list[Path]:
    """Power over time from a CSV/TSV with at least ``t_s`` and ``power_w`` (optionally a
    ``domain`` column, one line each). Missing or unusable file: logs and returns []."""
    path = Path(timeline_tsv)
    if not path.is_file():
        log.info("power timeline %s absent: skipped", path)
        return []
    try:
        df = pd.read_csv(path, sep=None, engine="python")
    except Exception as exc:  # noqa: BLE001 - a bad side file must not stop the plots
        log.warning("power timeline %s unreadable (%s): skipped", path, exc)
        return []
    if not {"t_s", "power_w"} <= set(df.columns) or df.empty:
        log.warning("power timeline %s lacks t_s/power_w: skipped", path)
        return []
    fig, ax = plt.subplots(figsize=(7, 3.2))
    groups = df.groupby("domain", sort=True) if "domain" in df else [("power", df)]
    for name, g in groups:
        ax.plot(g["t_s"], g["power_w"], lw=1, label=str(name))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("power (W)" + (f" (estimated: {methods})" if methods else ""))
    ax.set_title(f"Power timeline: {label or path.name}", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, out)


def timeline_candidates(runs: pd.DataFrame, runs_dir) -> list[tuple[pd.Series, Path]]:
    """Where the power timeline of each ok run would be, best first: single mode before pair,
    originals before mutants, lowest repetition first. A record ``<runs_dir>/single/<mutant_id>/
    rep<k>.json`` (pair: ``<runs_dir>/pair/<mutant_id>/<partner>/rep<k>.json``) has its timeline,
    when ``energy.timeline`` was on and a GPU was sampled, at ``rep<k>.timeline.tsv`` beside it.
    The paths come from the runs table; nothing is listed or scanned."""
    if runs_dir is None or str(runs_dir) == "" or runs.empty:
        return []
    ok = ok_runs(runs).copy()
    ok["_o"] = [(m != "single", h != ORIGINAL, r if pd.notna(r) else 1 << 30, str(i))
                for m, h, r, i in zip(ok["mode"], ok["hyperparameter"], ok["repetition"], ok["run_id"])]
    out = []
    for _, row in ok.sort_values("_o").iterrows():
        if pd.isna(row["repetition"]) or not isinstance(row["mutant_id"], str):
            continue
        base = Path(runs_dir) / str(row["mode"]) / row["mutant_id"]
        if row["mode"] == "pair":
            if not isinstance(row["partner"], str):
                continue
            base = base / row["partner"]
        out.append((row, timeline_path_for(base / f"rep{int(row['repetition'])}.json")))
    return out


def _has_rows(path: Path) -> bool:
    """A timeline with at least one sample (the training job writes a bare header when no GPU was sampled)."""
    with open(path, errors="replace") as fh:
        return bool(fh.readline()) and bool(fh.readline().strip())


def find_timeline(runs: pd.DataFrame, runs_dir, max_checks: int = 200, declared=None):
    """The first existing timeline with samples among :func:`timeline_candidates` (at most
    ``max_checks`` existence checks, at job run time), as ``(run row, path)``; ``(None, None)`` when
    none. ``declared`` (the workflow's input files): only those paths are looked at."""
    allowed = None if declared is None else {os.path.normpath(str(p)) for p in declared}
    if allowed is not None and not allowed:
        return None, None
    for row, path in timeline_candidates(runs, runs_dir)[:max_checks]:
        if allowed is not None and os.path.normpath(str(path)) not in allowed:
            continue
        if path.is_file() and _has_rows(path):
            return row, path
    return None, None


def timeline_figure(runs: pd.DataFrame, runs_dir, out, declared=None) -> list[Path]:
    """One run's power over time (see :func:`find_timeline`), or a figure saying that this study
    has no power timeline (timelines are written only with ``energy.timeline: true`` and a GPU
    meter)."""
    title = "Power timeline of one run"
    row, path = find_timeline(runs, runs_dir, declared=declared)
    if path is None:
        return _no_data(out, title, "no power timeline in this study:\n"
                        "timelines are recorded with energy.timeline: true on a GPU")
    paths = power_timeline(path, out, label=f"run {row['run_id']} ({path.name})")
    if not paths:
        return _no_data(out, title, f"timeline {path.name} unusable; see log")
    log.info("power timeline of run %s from %s", row["run_id"], path)
    return paths


#: Figures drawn from the runs table alone (the others need a statistics table).
RUNS_ONLY = ("hp_vs_energy", "power_timeline", "epoch_curves")


def write_named(runs: pd.DataFrame, tables: Mapping[str, pd.DataFrame],
                stems: Mapping[str, str | Path], runs_dir=None, window: str = DEFAULT_WINDOW,
                epochs: pd.DataFrame | None = None, workers: int = 1,
                timelines=None, metric_directions: Mapping[str, str] | None = None) -> dict[str, list[Path]]:
    """Draw the figures named in ``stems`` (keys from PLOT_NAMES) to those path stems.
    ``runs_dir``: the folder of the run records, where power timelines are looked for (``timelines``:
    the workflow's declared timeline files, the only ones looked at when given); ``window``:
    the ``analysis.window`` of the statistics (greenhp.analysis.epochs: each subject is drawn on
    the window window_plan gives it, as in the tables); ``epochs``: results/epochs.tsv;
    ``metric_directions``: ``analysis.metric_directions`` (a per-epoch metric other than the task's).
    ``workers`` > 1: the figures of the runs alone (RUNS_ONLY, hp_vs_energy the costliest of all)
    are drawn in a second process beside the others (greenhp.parallel)."""
    from greenhp.parallel import run_parts

    from .epochs import epoch_curves_figure, subject_windows, window_metric, window_plan

    empty = pd.DataFrame()
    energy = {s: window_metric("total_energy_j", w)
              for s, w in subject_windows(window_plan(runs, window)).items()}
    draw = {
        "correlation_heatmap": lambda o: correlation_heatmap(tables.get("correlations", empty), runs, o),
        "hp_vs_energy": lambda o: hp_vs_energy(runs, o, energy_metric=energy or window_metric("total_energy_j", window)),
        "epoch_curves": lambda o: epoch_curves_figure(epochs if epochs is not None else empty, runs, o,
                                                      metric_directions),
        "tradeoff": lambda o: tradeoff(runs, tables.get("pareto", empty), o),
        "sensitivity": lambda o: sensitivity(tables.get("sensitivity", empty), runs, o),
        "power_timeline": lambda o: timeline_figure(runs, runs_dir, o, declared=timelines),
    }

    def one(name: str) -> list[Path]:
        try:
            return draw[name](stems[name])
        except Exception:  # noqa: BLE001 - log, then still leave a figure behind
            log.exception("plot %s failed; writing a 'no data' figure", name)
            return _no_data(stems[name], name, "plot failed; see log")

    lanes = {"figures of the tables": [n for n in stems if n not in RUNS_ONLY],
             "figures of the runs": [n for n in stems if n in RUNS_ONLY]}
    drawn = run_parts({lane: (lambda names=names: {n: one(n) for n in names})
                       for lane, names in lanes.items() if names}, workers)
    out = {}
    for part in drawn.values():
        out.update(part)
    return {name: out[name] for name in stems}


def make_all(runs: pd.DataFrame, tables: Mapping[str, pd.DataFrame], outdir,
             runs_dir=None, window: str = DEFAULT_WINDOW, epochs: pd.DataFrame | None = None) -> dict[str, list[Path]]:
    """Write every figure of PLOT_NAMES (and EPOCH_PLOT_NAMES when ``epochs`` is given) as
    ``<outdir>/<name>.png`` and ``.svg``."""
    outdir = Path(outdir)
    names = PLOT_NAMES + (EPOCH_PLOT_NAMES if epochs is not None else ())
    return write_named(runs, tables, {n: outdir / n for n in names}, runs_dir=runs_dir,
                       window=window, epochs=epochs)
