"""Figures of a study (matplotlib, Agg backend). Each function saves ``<stem>.png`` and
``<stem>.svg`` and returns the written paths. Degenerate data gives a figure saying "no data"
instead of an error. Any figure drawn from rows whose energy is an estimate says so in its
labels: "(estimated: <methods>)".

Presentation layer of greenhp.analysis (docs/architecture.md): each figure is one function here
(``<name>(..., out)``, with ``draw_<name>`` returning the unsaved figure where tests look at it),
drawn from the statistics tables, the runs table and results/epochs.tsv; the helpers every figure
uses (grids, saving, "no data", labels) are in greenhp.analysis.drawing. A new figure: its function
here, its name in greenhp.analysis.outputs and an entry in write_named.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from greenhp.energy.command import timeline_path_for  # noqa: E402

from .drawing import (  # noqa: E402
    energy_label, estimate_notes, grid, label_points, log_axis, mean_ci, no_data, panel_grid, save,
)
from .epochs import configuration_key, curves, epoch_metric_direction  # noqa: E402
from .outputs import EPOCH_PLOT_NAMES, PLOT_NAMES  # noqa: E402
from .tables import (  # noqa: E402
    HP_PREFIX, METHOD_COLUMNS, OK, ORIGINAL, TASK_METRIC, better_word, direction_of, estimate_note,
    ok_runs, partner_key,
)
from .text import PANEL, WITH, setting_label  # noqa: E402
from .windows import DEFAULT_WINDOW, subject_windows, window_metric, window_plan  # noqa: E402

log = logging.getLogger(__name__)

#: A figure drawing more dots than this (one per run) draws them as an image in its SVG
#: (``rasterized``; axes, lines and text stay vector): 100k vector markers make a 17 MB SVG that
#: takes seconds to write and to open. The PNG is the same either way.
RASTER_POINTS = 5000
HEATMAP_METRICS = ("total_energy_j", "gpu_energy_j", "cpu_energy_j", "dram_energy_j",
                   "total_net_energy_j", "duration_s", TASK_METRIC)


def _stars(q: float) -> str:
    if not np.isfinite(q):
        return ""
    return "***" if q < 0.001 else "**" if q < 0.01 else "*" if q < 0.05 else ""


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
    return no_data(out, HEATMAP_TITLE) if fig is None else save(fig, out)


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
    fig, axes = panel_grid(len(panels), 6.4, 4.6)
    cmap = plt.get_cmap("RdBu_r")
    norm = matplotlib.colors.Normalize(vmin=-1, vmax=1)
    im = None
    notes = estimate_notes(runs)
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
        ax.set_title(setting_label(subject, mode, partner, PANEL, escape=None) + (f"\n{note}" if note else ""),
                     fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label="Spearman rho")
    fig.suptitle(HEATMAP_TITLE + "  [* q<0.05, ** q<0.01, *** q<0.001]", fontsize=10)
    return fig


def hp_vs_energy(runs: pd.DataFrame, out, energy_metric: str | Mapping[str, str] = "total_energy_j") -> list[Path]:
    """Mean +- 95% t-interval of energy per hyperparameter value (original included), one panel
    per subject x hyperparameter, one line per mode and partner, and every run as a dot (with 2 or 3
    repetitions the t-interval is very wide: the dots show what was measured). Energies never go
    below 0, so the axis starts at 0 at the lowest and an interval reaching below it is cut there.
    ``energy_metric``: the runs-table column drawn, or {subject: column} where subjects are on
    different energy windows (greenhp.analysis.windows.window_plan); each panel's axis names its own."""
    per = dict(energy_metric) if isinstance(energy_metric, Mapping) else {}
    default = "total_energy_j" if per else energy_metric
    cols = sorted(set(per.values()) | ({default} if not per else set()))
    title = f"{' or '.join(cols)} per hyperparameter value (mean ± 95% CI; dots: runs)"
    ok = ok_runs(runs) if not runs.empty else runs
    if ok.empty or not any(c in ok and ok[c].notna().any() for c in cols):
        return no_data(out, title)
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
        return no_data(out, title, "no mutants")
    fig, axes = panel_grid(len(panels), 4.6, 3.8)
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
                m, half = mean_ci(yy.to_numpy(float))
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
        log_axis(ax, h, all_x)
        if not drawn:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.legend(fontsize=6)
            if ax.get_ylim()[0] < 0 and (g[energy_metric].dropna() >= 0).all():
                ax.set_ylim(bottom=0)
        ax.set_xlabel(f"{h} (dotted: original)" + (", log scale" if ax.get_xscale() == "log" else ""),
                      fontsize=8)
        ax.set_ylabel(energy_label(g, energy_metric) + " (lower is better)", fontsize=7)
        ax.yaxis.set_major_formatter(matplotlib.ticker.EngFormatter(unit="J"))
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(subject, fontsize=9)
    fig.suptitle(title, fontsize=10)
    return save(fig, out)


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



def tradeoff(runs: pd.DataFrame, pareto: pd.DataFrame, out) -> list[Path]:
    """Energy vs task metric per configuration (means), Pareto front as a line, per subject x
    mode x partner; the axes say which way is better (the metric's declared direction) and each
    point is labelled with its configuration (configuration_label)."""
    fig = draw_tradeoff(runs, pareto)
    return no_data(out, TRADEOFF_TITLE) if fig is None else save(fig, out)


TRADEOFF_TITLE = "Energy vs task metric (Pareto front)"


def draw_tradeoff(runs: pd.DataFrame, pareto: pd.DataFrame):
    """The figure of tradeoff (not saved), or None when there is nothing to draw."""
    p = pareto.dropna(subset=["mean_energy_j", "mean_metric"]) if not pareto.empty else pareto
    if p.empty:
        return None
    p = p.assign(_p=partner_key(p["partner"]) if "partner" in p else "")
    panels = list(p.groupby(["subject", "mode", "_p"], sort=True))
    fig, axes = panel_grid(len(panels), 4.8, 3.9)
    notes = estimate_notes(runs)
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
        ax.set_xlabel(energy_label(g, f"mean {g['energy_metric'].iloc[0]}", notes(subject, mode))
                      + " (lower is better)", fontsize=7)
        ax.set_ylabel(f"mean {task_metric_label(g, f'subject {subject!r}')}", fontsize=8)
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(unit="J"))
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
        ax.tick_params(labelsize=7)
        ax.margins(0.12)  # room for the labels of the outermost points
        ax.set_title(setting_label(subject, mode, partner, PANEL, escape=None), fontsize=9)
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
        return no_data(out, title, "no mutant measured in both modes")
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
    return save(fig, out)


def epoch_curves_figure(epochs: pd.DataFrame, runs: pd.DataFrame, out, metric_directions=None) -> list[Path]:
    """Cumulative training energy (x) against the task metric (y) epoch by epoch, one line per
    configuration (mean over ok runs), one panel per subject x mode (pair: per partner); legends
    in configuration order (configuration_key: the original first, then by hyperparameter and value,
    as in the early-stop table)."""
    fig = draw_epoch_curves(epochs, runs, metric_directions)
    if fig is None:
        return no_data(out, EPOCH_CURVES_TITLE, "no per-epoch data: runs without phase marks")
    return save(fig, out)


EPOCH_CURVES_TITLE = "Epoch curves: cumulative training energy vs task metric"


def draw_epoch_curves(epochs: pd.DataFrame, runs: pd.DataFrame, metric_directions=None):
    """The figure of epoch_curves_figure (not saved), or None when there is no per-epoch data.
    The axis names the direction early_stop uses (epoch_metric_direction; ``metric_directions``
    serves a per-epoch metric other than the task metric)."""
    c = curves(epochs) if epochs is not None else pd.DataFrame()
    if c.empty:
        return None
    info = (runs[runs["status"] == OK].drop_duplicates("mutant_id").set_index("mutant_id")
            if not runs.empty else pd.DataFrame())
    panels = list(c.groupby(["subject", "mode", "_partner"], sort=True))
    fig, axes = grid(len(panels), 4.6, 3.6)
    for ax, ((subject, mode, partner), g) in zip(axes, panels):
        ids = list(g["mutant_id"].unique())
        ids.sort(key=lambda m: configuration_key(
            m, info["hyperparameter"].get(m) if "hyperparameter" in info else None,
            info["value"].get(m) if "value" in info else None))
        for mutant_id in ids:
            gm = g[g["mutant_id"] == mutant_id].sort_values("epoch")
            label = mutant_id.split("__", 1)[-1]
            style = dict(lw=2.2, c="k") if label == "original" else dict(lw=1)
            ax.plot(gm["total_energy_j"], gm["metric_value"], marker="o", ms=2.5, label=label, **style)
        rows = runs[(runs["subject"] == subject) & (runs["mode"] == mode)] if not runs.empty else runs
        note = estimate_note(rows[rows["status"] == OK]) if not rows.empty else ""
        ax.set_xlabel(f"cumulative training energy (J) {note}".strip(), fontsize=8)
        name = g["metric_name"].dropna()
        ok = rows[rows["status"] == OK] if not rows.empty else rows
        task = ok["metric_name"].dropna() if "metric_name" in ok else pd.Series(dtype=object)
        direction, _ = epoch_metric_direction(name.iloc[0] if not name.empty else None,
                                              task.iloc[0] if not task.empty else None,
                                              direction_of(ok, f"subject {subject!r}"),
                                              metric_directions)
        better = better_word(direction)
        ax.set_ylabel((name.iloc[0] if not name.empty else "metric") + (f" ({better})" if better else ""),
                      fontsize=8)
        ax.set_title(setting_label(subject, mode, partner, WITH, escape=None, pair_only=False), fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle(EPOCH_CURVES_TITLE, fontsize=10)
    return fig


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
    return save(fig, out)


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
        return no_data(out, title, "no power timeline in this study:\n"
                        "timelines are recorded with energy.timeline: true on a GPU")
    paths = power_timeline(path, out, label=f"run {row['run_id']} ({path.name})")
    if not paths:
        return no_data(out, title, f"timeline {path.name} unusable; see log")
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
    the ``analysis.window`` of the statistics (greenhp.analysis.windows: each subject is drawn on
    the window window_plan gives it, as in the tables); ``epochs``: results/epochs.tsv;
    ``metric_directions``: ``analysis.metric_directions`` (a per-epoch metric other than the task's).
    ``workers`` > 1: the figures of the runs alone (RUNS_ONLY, hp_vs_energy the costliest of all)
    are drawn in a second process beside the others (greenhp.parallel)."""
    from greenhp.parallel import run_parts

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
            return no_data(stems[name], name, "plot failed; see log")

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
