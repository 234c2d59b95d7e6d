"""Figures of a study (matplotlib, Agg backend). Each function saves ``<stem>.png`` and
``<stem>.svg`` and returns the written paths. Degenerate data gives a figure saying "no data"
instead of an error. Any figure drawn from rows whose energy is an estimate says so in its
labels: "(estimated: <methods>)"."""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats as sps  # noqa: E402

from greenhp.energy.command import timeline_path_for  # noqa: E402

from .tables import HP_PREFIX, ORIGINAL, TASK_METRIC, estimate_note, ok_runs  # noqa: E402

log = logging.getLogger(__name__)

PLOT_NAMES = ("correlation_heatmap", "hp_vs_energy", "tradeoff", "sensitivity", "power_timeline")
HEATMAP_METRICS = ("total_energy_j", "gpu_energy_j", "cpu_energy_j", "dram_energy_j",
                   "total_net_energy_j", "duration_s", TASK_METRIC)


def _stem(out) -> Path:
    p = Path(out)
    if p.suffix.lower() in (".png", ".svg"):
        p = p.with_suffix("")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _save(fig, out) -> list[Path]:
    stem = _stem(out)
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")]
    fig.savefig(paths[0], dpi=110, bbox_inches="tight")
    with plt.rc_context({"svg.fonttype": "none"}):  # keep text as text: searchable, smaller
        fig.savefig(paths[1], bbox_inches="tight")
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
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    return fig, list(axes.flat[:n])


def _energy_label(rows: pd.DataFrame, base: str = "total energy (J)") -> str:
    note = estimate_note(rows)
    return f"{base} {note}" if note else base


def _stars(q: float) -> str:
    if not np.isfinite(q):
        return ""
    return "***" if q < 0.001 else "**" if q < 0.01 else "*" if q < 0.05 else ""


def correlation_heatmap(correlations: pd.DataFrame, runs: pd.DataFrame, out) -> list[Path]:
    """Spearman coefficients, hyperparameter x metric, one panel per subject x mode; stars from
    BH q-values (* < 0.05, ** < 0.01, *** < 0.001)."""
    title = "Spearman correlation of hyperparameters with metrics"
    c = correlations[correlations["method"] == "spearman"] if not correlations.empty else correlations
    if c.empty or c["coefficient"].notna().sum() == 0:
        return _no_data(out, title)
    panels = list(c.groupby(["subject", "mode"], sort=True))
    fig, axes = _grid(len(panels), 6.2, 4.4)
    im = None
    for ax, ((subject, mode), g) in zip(axes, panels):
        metrics = [m for m in HEATMAP_METRICS if m in set(g["metric"])] + sorted(
            set(g["metric"]) - set(HEATMAP_METRICS))
        hps = sorted(g["hyperparameter"].unique())
        coef = g.pivot_table(index="hyperparameter", columns="metric", values="coefficient",
                             aggfunc="first", dropna=False).reindex(index=hps, columns=metrics)
        q = g.pivot_table(index="hyperparameter", columns="metric", values="q_value",
                          aggfunc="first", dropna=False).reindex(index=hps, columns=metrics)
        im = ax.imshow(coef.to_numpy(float), vmin=-1, vmax=1, cmap="RdBu_r", aspect="auto")
        for i in range(len(hps)):
            for j in range(len(metrics)):
                v = coef.iat[i, j]
                txt = "n/a" if not np.isfinite(v) else f"{v:.2f}{_stars(q.iat[i, j])}"
                ax.text(j, i, txt, ha="center", va="center", fontsize=6)
        ax.set_xticks(range(len(metrics)), [m.replace("_j", "") for m in metrics], rotation=40,
                      ha="right", fontsize=7)
        ax.set_yticks(range(len(hps)), hps, fontsize=8)
        rows = runs[(runs["subject"] == subject) & (runs["mode"] == mode)] if not runs.empty else runs
        note = estimate_note(ok_runs(rows)) if not rows.empty else ""
        ax.set_title(f"{subject} ({mode})" + (f"\n{note}" if note else ""), fontsize=9)
    if len(panels) > 3:  # room between rows for the tick labels above and the two-line titles below
        fig.subplots_adjust(hspace=0.6)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label="Spearman rho")
    fig.suptitle(title + "  [* q<0.05, ** q<0.01, *** q<0.001]", fontsize=10, y=1.04)
    return _save(fig, out)


def _mean_ci(v: np.ndarray):
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan
    if v.size == 1:
        return v[0], np.nan
    half = sps.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return v.mean(), half


def hp_vs_energy(runs: pd.DataFrame, out, energy_metric: str = "total_energy_j") -> list[Path]:
    """Mean +- 95% t-interval of energy per hyperparameter value (original included), one panel
    per subject x hyperparameter, one line per mode, and every run as a dot (with 2 or 3 repetitions
    the t-interval is very wide: the dots show what was measured). Energies never go below 0, so
    the axis starts at 0 at the lowest and an interval reaching below it is cut there."""
    title = f"{energy_metric} per hyperparameter value (mean ± 95% CI; dots: runs)"
    ok = ok_runs(runs) if not runs.empty else runs
    if ok.empty or energy_metric not in ok or ok[energy_metric].notna().sum() == 0:
        return _no_data(out, title)
    panels = []
    for subject, g in ok.groupby("subject", sort=True):
        for h in sorted(x for x in g["hyperparameter"].dropna().unique() if x != ORIGINAL):
            if HP_PREFIX + h in g:
                panels.append((subject, h, g[g["hyperparameter"].isin([ORIGINAL, h])]))
    if not panels:
        return _no_data(out, title, "no mutants")
    fig, axes = _grid(len(panels))
    for ax, (subject, h, g) in zip(axes, panels):
        drawn = False
        for mode, gm in g.groupby("mode", sort=True):
            x = pd.to_numeric(gm[HP_PREFIX + h], errors="coerce")
            y = gm[energy_metric]
            pts = []
            for xv, yy in y.groupby(x):
                m, half = _mean_ci(yy.to_numpy(float))
                if np.isfinite(m):
                    pts.append((xv, m, half))
            if pts:
                xs, ms, hs = map(np.array, zip(*pts))
                line = ax.errorbar(xs, ms, yerr=np.where(np.isfinite(hs), hs, 0), marker="o", capsize=3,
                                   label=mode)
                ax.scatter(x, y, s=10, alpha=0.6, color=line[0].get_color(), zorder=3)
                drawn = True
                orig = gm.loc[gm["hyperparameter"] == ORIGINAL, HP_PREFIX + h]
                if orig.notna().any():
                    ax.axvline(float(orig.dropna().iloc[0]), color="grey", ls=":", lw=1)
                if xs.min() > 0 and xs.max() / xs.min() > 20:
                    ax.set_xscale("log")
        if not drawn:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.legend(fontsize=7)
            if ax.get_ylim()[0] < 0 and (g[energy_metric].dropna() >= 0).all():
                ax.set_ylim(bottom=0)
        ax.set_xlabel(f"{h} (dotted: original)")
        ax.set_ylabel(_energy_label(g, energy_metric), fontsize=8)
        ax.set_title(subject, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


def tradeoff(runs: pd.DataFrame, pareto: pd.DataFrame, out) -> list[Path]:
    """Energy vs task metric per configuration (means), Pareto front as a line, per subject x mode."""
    title = "Energy vs task metric (Pareto front)"
    p = pareto.dropna(subset=["mean_energy_j", "mean_metric"]) if not pareto.empty else pareto
    if p.empty:
        return _no_data(out, title)
    panels = list(p.groupby(["subject", "mode"], sort=True))
    fig, axes = _grid(len(panels))
    for ax, ((subject, mode), g) in zip(axes, panels):
        opt = g["pareto_optimal"].astype(str).str.lower() == "true"
        ax.scatter(g.loc[~opt, "mean_energy_j"], g.loc[~opt, "mean_metric"], c="tab:grey", s=18,
                   label="configuration")
        front = g[opt].sort_values("mean_energy_j")
        ax.plot(front["mean_energy_j"], front["mean_metric"], "o-", c="tab:green", ms=5,
                label="Pareto front")
        orig = g[g["hyperparameter"] == ORIGINAL]
        ax.scatter(orig["mean_energy_j"], orig["mean_metric"], marker="*", s=120, c="tab:red",
                   label="original", zorder=3)
        rows = runs[(runs["subject"] == subject) & (runs["mode"] == mode)] if not runs.empty else runs
        ax.set_xlabel(_energy_label(ok_runs(rows) if not rows.empty else rows,
                                    f"mean {g['energy_metric'].iloc[0]}"), fontsize=8)
        name = g["metric_name"].dropna()
        ax.set_ylabel(f"mean {name.iloc[0] if not name.empty else 'metric'}")
        ax.set_title(f"{subject} ({mode})", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


def sensitivity(per_mutant: pd.DataFrame, runs: pd.DataFrame, out) -> list[Path]:
    """Relative energy change of each mutant vs its original: single (x) vs pair (y), y = x line."""
    title = "Energy change vs original: single vs pair mode"
    d = (per_mutant.dropna(subset=["rel_change_single", "rel_change_pair"])
         if not per_mutant.empty else per_mutant)
    if d.empty:
        return _no_data(out, title, "no mutant measured in both modes")
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for subject, g in d.groupby("subject", sort=True):
        ax.scatter(100 * g["rel_change_single"], 100 * g["rel_change_pair"], label=subject, s=22)
    lim = 100 * np.nanmax(np.abs(d[["rel_change_single", "rel_change_pair"]].to_numpy(float)))
    lim = max(lim * 1.1, 1.0)
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=1, label="equal change")
    ax.axhline(0, c="grey", lw=0.5)
    ax.axvline(0, c="grey", lw=0.5)
    note = estimate_note(ok_runs(runs)) if not runs.empty else ""
    metric = d["energy_metric"].iloc[0]
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


def find_timeline(runs: pd.DataFrame, runs_dir, max_checks: int = 200):
    """The first existing timeline among :func:`timeline_candidates` (at most ``max_checks``
    existence checks, at job run time), as ``(run row, path)``; ``(None, None)`` when none."""
    for row, path in timeline_candidates(runs, runs_dir)[:max_checks]:
        if path.is_file():
            return row, path
    return None, None


def timeline_figure(runs: pd.DataFrame, runs_dir, out) -> list[Path]:
    """One run's power over time (see :func:`find_timeline`), or a figure saying that this study
    has no power timeline (timelines are written only with ``energy.timeline: true`` and a GPU
    meter)."""
    title = "Power timeline of one run"
    row, path = find_timeline(runs, runs_dir)
    if path is None:
        return _no_data(out, title, "no power timeline in this study:\n"
                        "timelines are recorded with energy.timeline: true on a GPU")
    paths = power_timeline(path, out, label=f"run {row['run_id']} ({path.name})")
    if not paths:
        return _no_data(out, title, f"timeline {path.name} unusable; see log")
    log.info("power timeline of run %s from %s", row["run_id"], path)
    return paths


def write_named(runs: pd.DataFrame, tables: Mapping[str, pd.DataFrame],
                stems: Mapping[str, str | Path], runs_dir=None) -> dict[str, list[Path]]:
    """Draw the figures named in ``stems`` (keys from PLOT_NAMES) to those path stems.
    ``runs_dir``: the folder of the run records, where power timelines are looked for."""
    empty = pd.DataFrame()
    draw = {
        "correlation_heatmap": lambda o: correlation_heatmap(tables.get("correlations", empty), runs, o),
        "hp_vs_energy": lambda o: hp_vs_energy(runs, o),
        "tradeoff": lambda o: tradeoff(runs, tables.get("pareto", empty), o),
        "sensitivity": lambda o: sensitivity(tables.get("sensitivity", empty), runs, o),
        "power_timeline": lambda o: timeline_figure(runs, runs_dir, o),
    }
    out = {}
    for name, stem in stems.items():
        try:
            out[name] = draw[name](stem)
        except Exception:  # noqa: BLE001 - log, then still leave a figure behind
            log.exception("plot %s failed; writing a 'no data' figure", name)
            out[name] = _no_data(stem, name, "plot failed; see log")
    return out


def make_all(runs: pd.DataFrame, tables: Mapping[str, pd.DataFrame], outdir,
             runs_dir=None) -> dict[str, list[Path]]:
    """Write every figure of PLOT_NAMES as ``<outdir>/<name>.png`` and ``.svg``."""
    outdir = Path(outdir)
    return write_named(runs, tables, {n: outdir / n for n in PLOT_NAMES}, runs_dir=runs_dir)
