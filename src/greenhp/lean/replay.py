"""``greenhp replay``: the lean design replayed on a complete runs table, without training (docs/lean.md).

The lean subset of a table is what a lean study would have trained: every run of the originals, each
mutant group's first ``first_wave`` repetitions (by the table's repetition numbers, in order), and
every repetition of the groups that :func:`greenhp.lean.decide.decide` opens on that first wave. The
study's statistics (greenhp.lean.decide.study_tables: the config's analysis settings) run on the full
table and on the lean subset, and every verdict is compared:

- ``energy``: the comparison verdict (lower/same/higher) of the window's total energy, per group;
- ``metric``: the task metric's outcome (better/same/worse), per group;
- ``win_tie_loss``: the group's cell, energy verdict x metric outcome;
- ``recommendation``: recommended or not, per group;
- ``correlation``: significant or not (BH q < alpha, as the summary reports it) of each
  hyperparameter with the window's total energy and with the task metric, per method.

A verdict that cannot be reached (too few ok runs) is ``undetermined``. The derived-epochs part of
the lean design is not replayed: a runs table has no epoch marks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from greenhp.analysis.tables import partner_key, validate_runs, write_tsv
from greenhp.analysis.derived import trained
from greenhp.lean.decide import ENERGY, TASK, decide, study_tables
from greenhp.lean.settings import LeanError, LeanSettings, lean_settings

REPLAY_COLUMNS = ["kind", "subject", "mode", "partner", "mutant_id", "full", "lean", "same"]
SUMMARY_COLUMNS = ["runs_full", "runs_lean", "seconds_full", "seconds_lean", "verdicts", "verdicts_kept",
                   "seconds_kind", "runs_without_duration", "groups", "groups_extended", "extension_share",
                   "repetitions", "first_wave", "p_band", "delta_band", "false_positive_lean",
                   "false_positive_fixed", "groups_short"]
KINDS = ("energy", "metric", "win_tie_loss", "recommendation", "correlation")
KEYS = ["subject", "mode", "partner", "mutant_id"]
NOT_REPLAYED = ("not replayed: the derived-epochs part of the lean design (lean.derive_epochs): a runs "
                "table has no epoch marks")


class ReplayError(ValueError):
    """A runs table or setting that cannot be replayed; the message (one line) names the file and field."""


@dataclass
class Replay:
    replay: pd.DataFrame      # REPLAY_COLUMNS, one row per verdict
    summary: pd.DataFrame     # SUMMARY_COLUMNS, one row
    decisions: pd.DataFrame   # greenhp.lean.decide's table on the first wave
    lean_runs: pd.DataFrame   # the lean subset of the table
    settings: LeanSettings


def read_table(path: str | Path, metric_directions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A runs table checked as ``greenhp.analysis.tables.import_runs`` checks it (a study's runs.tsv
    or a published table in the minimal import format; comma-separated when it ends in .csv)."""
    path = Path(path)
    if not path.is_file():
        raise ReplayError(f"runs table {path}: not found")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    if raw.empty:
        raise ReplayError(f"runs table {path}: no rows")
    if "repetition" not in [str(c).strip() for c in raw.columns]:
        raise ReplayError(f"runs table {path}: no 'repetition' column; replay needs each run's repetition "
                          "number to know a configuration's first wave")
    try:
        return validate_runs(raw, metric_directions)
    except ValueError as exc:
        raise ReplayError(f"runs table {path}: {' '.join(str(exc).split())}") from None


def group_key(runs: pd.DataFrame) -> pd.Series:
    """Each run's group (subject, mode, partner, mutant_id) as one number. Grouped on the columns
    themselves, not on their joined text: pandas' string type drops a NUL separator, so joined names
    such as partner "t__orig" + mutant "inals__x" would run together with "t__original" + "s__x"."""
    cols = pd.DataFrame({"subject": runs["subject"].astype(str), "mode": runs["mode"].astype(str),
                         "partner": partner_key(runs["partner"]), "mutant_id": runs["mutant_id"].astype(str)},
                        index=runs.index)
    return cols.groupby(list(cols.columns), sort=False, dropna=False).ngroup()


def repetition_order(runs: pd.DataFrame, name: str = "runs table") -> pd.Series:
    """Each run's place (1, 2, ...) among its group's repetitions, by repetition number; a run without
    a repetition number, or two runs of one group with the same number, are rejected."""
    rep = runs["repetition"]
    if rep.isna().any():
        rid = runs.loc[rep.isna(), "run_id"].iloc[0]
        raise ReplayError(f"{name}: run {rid} has no repetition number ({int(rep.isna().sum())} such run(s))")
    key = group_key(runs)
    dup = pd.DataFrame({"k": key, "r": rep}).duplicated(keep=False)
    if dup.any():
        rows = runs.loc[dup, ["run_id", "mutant_id", "repetition"]].head(2)
        raise ReplayError(f"{name}: runs {' and '.join(rows['run_id'])} are both repetition "
                          f"{rows['repetition'].iloc[0]} of {rows['mutant_id'].iloc[0]} (same mode and partner)")
    return rep.groupby(key).rank(method="first").astype(int)


def replay_settings(config: Mapping, repetitions: int) -> LeanSettings:
    """The config's lean settings for a table of ``repetitions`` per group. Replayed whether or not
    ``lean.enabled`` is true: replay is how a user tries them before turning them on."""
    lean = dict(config.get("lean") or {}, enabled=True)
    try:
        return lean_settings({**config, "repetitions": repetitions, "lean": lean})
    except LeanError as exc:
        raise ReplayError(str(exc)) from None


def lean_subset(runs: pd.DataFrame, settings: LeanSettings, analysis: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the lean subset of ``runs``, the decisions on its first wave)."""
    order = repetition_order(runs)
    original = runs["hyperparameter"] == "none"
    first = runs[original | (order <= settings.first_wave)]
    decisions = decide(first, settings, analysis)
    opened = decisions[decisions["extend"]]
    open_keys = set(zip(*(opened[k].astype(str) for k in KEYS))) if len(opened) else set()
    keys = zip(runs["subject"].astype(str), runs["mode"].astype(str), partner_key(runs["partner"]),
               runs["mutant_id"].astype(str))
    extended = pd.Series([k in open_keys for k in keys], index=runs.index)
    return runs[original | (order <= settings.first_wave) | extended], decisions


def _is_energy(metric: pd.Series) -> pd.Series:
    metric = metric.astype(str)
    return metric.str.endswith(ENERGY) & ~metric.str.contains("net|share")


def _text(value) -> str:
    return value if isinstance(value, str) and value else "undetermined"


def verdicts(tables: Mapping[str, pd.DataFrame], alpha: float) -> pd.DataFrame:
    """Every verdict of one analysis (module doc), as rows kind, subject, mode, partner, mutant_id, verdict."""
    comp = tables["comparisons"].assign(partner=lambda d: partner_key(d["partner"]))
    energy = comp[_is_energy(comp["metric"])].drop_duplicates(KEYS).set_index(KEYS)["verdict"]
    metric = comp[comp["metric"] == TASK].drop_duplicates(KEYS).set_index(KEYS)["outcome"]
    groups = comp.drop_duplicates(KEYS).set_index(KEYS).index
    rec = tables["recommendations"].assign(partner=lambda d: partner_key(d["partner"]))
    recommended = set(map(tuple, rec[KEYS].astype(str).to_numpy()))
    rows = []
    for key in groups:
        e, m = _text(energy.get(key)), _text(metric.get(key))
        rows += [("energy", *key, e), ("metric", *key, m), ("win_tie_loss", *key, f"{e}/{m}"),
                 ("recommendation", *key, "recommended" if tuple(map(str, key)) in recommended
                  else "not recommended")]
    corr = tables["correlations"]
    corr = corr[_is_energy(corr["metric"]) | (corr["metric"] == TASK)]
    for r in corr.itertuples(index=False):
        q = float(r.q_value) if r.q_value == r.q_value else math.nan
        verdict = "undetermined" if math.isnan(q) else ("significant" if q < alpha else "not significant")
        rows.append(("correlation", r.subject, r.mode, r.partner if isinstance(r.partner, str) else "",
                     f"{r.hyperparameter} ~ {r.metric} ({r.method})", verdict))
    return pd.DataFrame(rows, columns=["kind"] + KEYS + ["verdict"])


def compare_verdicts(full: pd.DataFrame, lean: pd.DataFrame) -> pd.DataFrame:
    """REPLAY_COLUMNS: each verdict of the full table beside the lean subset's ("absent" where one
    side has no such row)."""
    on = ["kind"] + KEYS
    m = full.merge(lean, on=on, how="outer", suffixes=("_full", "_lean"))
    m["full"] = m["verdict_full"].fillna("absent")
    m["lean"] = m["verdict_lean"].fillna("absent")
    m["same"] = m["full"] == m["lean"]
    m["kind"] = pd.Categorical(m["kind"], KINDS, ordered=True)
    m = m.sort_values(on, kind="mergesort")
    m["kind"] = m["kind"].astype(str)
    return m[REPLAY_COLUMNS].reset_index(drop=True)


def seconds_kind(runs: pd.DataFrame) -> str:
    """What seconds_* add up: duration_s of runs on a GPU (a cuda device or a GPU model named) are
    GPU-seconds; without a GPU, seconds."""
    gpu = pd.Series(False, index=runs.index)
    if "device" in runs:
        gpu |= runs["device"].astype(str).str.startswith("cuda")
    if "gpu_model" in runs:
        gpu |= runs["gpu_model"].notna() & (runs["gpu_model"].astype(str).str.strip() != "")
    return "GPU-seconds" if gpu.all() else "seconds" if not gpu.any() else "seconds (some runs on a GPU)"


def _summary(full: pd.DataFrame, lean: pd.DataFrame, rows: pd.DataFrame, decisions: pd.DataFrame,
             settings: LeanSettings, analysis: Mapping) -> pd.DataFrame:
    full_t, lean_t = trained(full), trained(lean)  # derived rows cost no training
    dur_full, dur_lean = pd.to_numeric(full_t["duration_s"]), pd.to_numeric(lean_t["duration_s"])
    groups = len(decisions)
    extended = int(decisions["extend"].sum())
    band = lambda b: "" if b is None else f"[{b[0]:g}, {b[1]:g})"  # noqa: E731
    return pd.DataFrame([dict(
        runs_full=len(full_t), runs_lean=len(lean_t), seconds_full=float(dur_full.sum()),
        seconds_lean=float(dur_lean.sum()), verdicts=len(rows), verdicts_kept=int(rows["same"].sum()),
        seconds_kind=seconds_kind(full_t), runs_without_duration=int(dur_full.isna().sum()),
        groups=groups, groups_extended=extended, extension_share=extended / groups if groups else math.nan,
        repetitions=settings.repetitions, first_wave=settings.first_wave, p_band=band(settings.p_band),
        delta_band=band(settings.delta_band), **_false_positives(settings, analysis),
        groups_short=groups_short(full))], columns=SUMMARY_COLUMNS)


def groups_short(runs: pd.DataFrame) -> int:
    """Groups (originals included) with fewer repetitions than the table's most: a table that is not
    complete (a lean study's own, or one with lost runs) replays what it has, and says so."""
    order = repetition_order(runs)
    counts = order.groupby(group_key(runs)).max()
    return int((counts < counts.max()).sum()) if len(counts) else 0


def _false_positives(settings: LeanSettings, analysis: Mapping) -> dict[str, float]:
    """The simulated false-positive rate of one comparison under the null, lean and fixed-n
    (greenhp.lean.error_rate; empty for a test other than Welch's or Student's t)."""
    from greenhp.lean.error_rate import simulate

    test = analysis.get("test", "welch")
    if test not in ("welch", "student") or settings.first_wave >= settings.repetitions:
        return {"false_positive_lean": math.nan, "false_positive_fixed": math.nan}
    rate = simulate(settings.first_wave, settings.repetitions, settings.p_band,
                    alpha=float(analysis.get("alpha", 0.05)), test=test)
    return {"false_positive_lean": rate.rate_lean, "false_positive_fixed": rate.rate_fixed}


def replay(runs: pd.DataFrame, settings: LeanSettings, analysis: Mapping,
           full_verdicts: pd.DataFrame | None = None) -> Replay:
    """The lean design of ``settings`` replayed on checked ``runs`` (module doc). ``full_verdicts``:
    ``verdicts`` of the full table when already computed (a sweep over settings)."""
    lean, decisions = lean_subset(runs, settings, analysis)
    alpha = float(analysis.get("alpha", 0.05))
    if full_verdicts is None:
        full_verdicts = verdicts(study_tables(runs, analysis), alpha)
    rows = compare_verdicts(full_verdicts, verdicts(study_tables(lean, analysis), alpha))
    return Replay(rows, _summary(runs, lean, rows, decisions, settings, analysis), decisions, lean, settings)


def table_repetitions(runs: pd.DataFrame, name: str = "runs table") -> int:
    """The most repetitions any group of the table has (what the lean design extends up to)."""
    return int(repetition_order(runs, name).max()) if len(runs) else 0


def replay_file(runs_table: str | Path, config: Mapping, out: str | Path) -> tuple[Replay, str]:
    """Replay the lean settings of ``config`` (a validated study config) on ``runs_table``; write
    ``out``/replay.tsv, replay_summary.tsv and decisions.tsv; return the replay and its summary text."""
    analysis = config.get("analysis") or {}
    runs = read_table(runs_table, analysis.get("metric_directions") or None)
    reps = table_repetitions(runs, f"runs table {runs_table}")
    try:
        settings = replay_settings(config, reps)
    except ReplayError as exc:
        raise ReplayError(f"runs table {runs_table}: at most {reps} repetition(s) per configuration: {exc}") from None
    try:
        result = replay(runs, settings, analysis)
    except ValueError as exc:  # e.g. analysis.window: training_strict on a table without the window
        raise ReplayError(f"runs table {runs_table}: {' '.join(str(exc).split())}") from None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_tsv(result.replay, out / "replay.tsv")
    write_tsv(result.summary, out / "replay_summary.tsv")
    write_tsv(result.decisions, out / "decisions.tsv")
    return result, format_replay(result, runs_table, enabled=bool((config.get("lean") or {}).get("enabled")))


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "n/a"


def format_replay(result: Replay, runs_table, enabled: bool = True) -> str:
    """The human summary: settings, shares, and every verdict that differs."""
    s, st = result.summary.iloc[0], result.settings
    lines = [f"replay of {runs_table}: first wave {st.first_wave} of {st.repetitions} repetitions, "
             f"p_band {s['p_band']}, delta_band {s['delta_band'] or 'none'}"
             + ("" if enabled else " (lean.enabled is false in the config: its lean settings replayed anyway)"),
             f"runs: {s['runs_lean']} of {s['runs_full']} ({_pct(s['runs_lean'], s['runs_full'])}); "
             f"{s['seconds_kind']}: {s['seconds_lean']:.0f} of {s['seconds_full']:.0f} "
             f"({_pct(s['seconds_lean'], s['seconds_full'])})"
             + (f"; {s['runs_without_duration']} run(s) without duration_s not counted"
                if s["runs_without_duration"] else ""),
             f"groups extended after the first wave: {s['groups_extended']} of {s['groups']} "
             f"({_pct(s['groups_extended'], s['groups'])})",
             f"verdicts kept: {s['verdicts_kept']} of {s['verdicts']} ({_pct(s['verdicts_kept'], s['verdicts'])})"]
    if not math.isnan(s["false_positive_lean"]):
        lines.append(f"simulated false-positive rate of one comparison under the null (greenhp.lean.error_rate): "
                     f"lean {s['false_positive_lean']:.3f}, all {st.repetitions} repetitions at once "
                     f"{s['false_positive_fixed']:.3f}")
    if s["groups_short"]:
        lines.append(f"note: {s['groups_short']} group(s) have fewer than {st.repetitions} repetitions: the table is "
                     "not complete, and its 'full' side is what it has")
    diff = result.replay[~result.replay["same"]]
    for r in diff.itertuples(index=False):
        where = " ".join(x for x in (r.subject, r.mode, r.partner) if x)
        lines.append(f"  differs: {r.kind} {where} {r.mutant_id}: full {r.full}, lean {r.lean}")
    lines.append(NOT_REPLAYED)
    return "\n".join(lines)


def load_config(paths: Sequence[str]) -> dict:
    """The study config of ``--configfile`` files (merged in order), validated with its defaults."""
    from greenhp.study import StudyError, load_config_files, validate_config

    for path in paths:
        if not Path(path).is_file():
            raise ReplayError(f"config file {path}: not found")
    try:
        config = load_config_files(list(paths))
        validate_config(config)
    except StudyError as exc:
        raise ReplayError(f"config {' '.join(paths)}: {exc}") from None
    return config
