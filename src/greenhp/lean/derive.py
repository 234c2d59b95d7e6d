"""Epochs mutants read from the epoch marks of a longer run (docs/lean.md, "Epochs mutants from prefixes").

Where a subject declares ``schedule_depends_on_epochs: False``, the first E epochs of a longer run with
the same seed *are* an E-epoch run (the seed is ``seed + repetition``, greenhp.study.run_identity: it
does not depend on the configuration). So, with ``lean.derive_epochs`` on:

- **families** (:func:`derive_plan`): per such subject, the single-mode configurations that differ from
  each other only in ``epochs`` (the original and its epochs mutants). The *source* is the longest
  member that is not the original; every other non-original member shorter than it is *derived*: its
  repetition k is read from the source's repetition k. The original is always trained and is never a
  source, so that every mutant-vs-original comparison stays two independent samples. The first
  ``lean.derive_check`` derived members of each family (fewest epochs first: the prefix that differs
  most from its full run) are also trained for real, as the check. Pair mode is never derived (a
  shorter main run ends earlier and leaves its partner training alone; the source's window, in which
  the partner trained beside a longer main run, cannot give that). A subject that declares True, or
  nothing, is never derived.
- **rows** (:func:`derived_row`): the runs.tsv row of a derived run, built from the source record's
  measured phases (greenhp.energy.phases): training window = training start -> epoch E's mark;
  whole process = the source's ``setup`` + that window + the source's ``evaluation`` and ``end``
  phases; net energies with the source's idle baseline over the derived durations (the record's own
  formula); the task metric from epoch E's mark only where that is the final metric. What cannot be
  built from measurements is left empty, with the reason in the row's ``reason``.
- **the check** (:func:`derive_check`): derived against measured for the check configurations;
  a family whose error exceeds the run-to-run spread is trained in full (:func:`full_family_jobs`).

Everything :func:`derive_plan` and :func:`split_single_jobs` do is cheap (parse time): no pandas, no
file reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from greenhp.lean.settings import LeanSettings
from greenhp.mutation import Mutant

ORIGINAL = "none"
NOT_DERIVED = "not_derived"  # status of a derived row whose source gives nothing to derive from
RUNS_DIR = "results/runs"
#: The energies the check compares: the training window's and the whole process's total.
CHECK_ENERGIES = ("train_total_energy_j", "total_energy_j")
CHECK_COLUMNS = ["family", "subject", "configuration", "source", "energy_column", "n_pairs", "derived_mean",
                 "measured_mean", "energy_error", "energy_error_pct", "spread", "metric_error",
                 "metric_spread", "ok", "note"]


@dataclass(frozen=True)
class Family:
    subject: str
    name: str                              # the original's mutant id (the source's when no original)
    members: tuple[tuple[str, int], ...]   # (mutant_id, epochs), fewest epochs first
    source: str                            # trained; its marks give the derived members
    derived: tuple[str, ...]               # read from the source (the check members included)
    check: tuple[str, ...]                 # derived members also trained for real


@dataclass(frozen=True)
class DerivePlan:
    families: tuple[Family, ...] = ()
    epochs: Mapping[str, int] = field(default_factory=dict)  # every member's epochs

    @property
    def source_of(self) -> dict[str, str]:
        return {m: f.source for f in self.families for m in f.derived}

    @property
    def family_of(self) -> dict[str, str]:
        return {m: f.name for f in self.families for m, _ in f.members}

    def derives(self, mutant_id: str, full: Iterable[str] = ()) -> bool:
        """True when ``mutant_id``'s runs.tsv rows are derived, not trained (its family not in ``full``,
        the families trained in full after a failed check)."""
        full = set(full)
        return any(mutant_id in f.derived and mutant_id not in f.check and f.name not in full
                   for f in self.families)

    def not_trained(self, full: Iterable[str] = ()) -> frozenset[str]:
        """The configurations whose single-mode jobs are not trained (derived instead)."""
        return frozenset(m for f in self.families for m in f.derived if self.derives(m, full))


def schedule_of(config: dict, subject: str) -> bool | None:
    """The subject's ``schedule_depends_on_epochs`` (None: not declared)."""
    from greenhp.study import study_subject

    value = getattr(study_subject(config, subject), "schedule_depends_on_epochs", None)
    return value if isinstance(value, bool) else None


def _family(subject: str, members: list[Mutant], n_check: int) -> Family | None:
    by_epochs = sorted(((m.mutant_id, int(m.hp["epochs"])) for m in members), key=lambda t: (t[1], t[0]))
    originals = [m.mutant_id for m in members if m.hyperparameter == ORIGINAL]
    candidates = [(mid, e) for mid, e in by_epochs if mid not in originals]
    if not candidates:
        return None
    source, longest = max(candidates, key=lambda t: (t[1], t[0]))
    derived = tuple(mid for mid, e in candidates if e < longest)
    if not derived:
        return None
    return Family(subject=subject, name=originals[0] if originals else source, members=tuple(by_epochs),
                  source=source, derived=derived, check=derived[:max(n_check, 0)])


def derive_plan(study, settings: LeanSettings) -> DerivePlan:
    """Which configurations are derived, from which source, and which are trained as the check (see
    the module doc). Empty when ``lean.derive_epochs`` is off. Cheap: called at parse time."""
    if not settings.derive_epochs:
        return DerivePlan()
    families, epochs = [], {}
    for subject in study.config["subjects"]:
        if schedule_of(study.config, subject) is not False:
            continue  # True or not declared: trained in full
        groups: dict[tuple, list[Mutant]] = {}
        for m in study.mutants:
            if m.subject != subject or "epochs" not in m.hp:
                continue
            rest = tuple(sorted((k, float(v)) for k, v in m.hp.items() if k != "epochs"))
            groups.setdefault(rest, []).append(m)
        for members in groups.values():
            fam = _family(subject, members, settings.derive_check) if len(members) > 1 else None
            if fam is not None:
                families.append(fam)
                epochs.update(dict(fam.members))
    return DerivePlan(tuple(sorted(families, key=lambda f: (f.subject, f.name))), epochs)


def source_record(plan: DerivePlan, mutant_id: str, repetition: int, runs_dir: str | Path = RUNS_DIR) -> str:
    """The run record a derived run's row comes from: the source's repetition ``repetition``."""
    return f"{runs_dir}/single/{plan.source_of[mutant_id]}/rep{int(repetition)}.json"


@dataclass(frozen=True)
class DerivedJob:
    """One derived runs.tsv row to build (greenhp.aggregate): the configuration, its repetition and
    the source record it comes from."""
    mutant: Mutant
    repetition: int
    source_path: str

    @property
    def source_run_id(self) -> str:
        """The run_id of the source run (its record is ``results/runs/single/<source>/rep<k>.json``)."""
        return f"single__{Path(self.source_path).parent.name}__rep{self.repetition}"


def split_single_jobs(plan: DerivePlan, study, jobs: Iterable[tuple[str, int]], full: Iterable[str] = (),
                      runs_dir: str | Path = RUNS_DIR) -> tuple[list[tuple[str, int]], list[DerivedJob]]:
    """Split planned single-mode (mutant_id, repetition) jobs into those to train and those to
    derive. Every derived job adds its source's repetition to the trained ones (once, in order), so a
    derived configuration extended to repetition k trains the source's repetition k. ``full``: the
    families trained in full after a failed check (:func:`full_families`)."""
    not_trained, source_of = plan.not_trained(full), plan.source_of  # once, not once per job
    train: dict[tuple[str, int], None] = {}
    derived = []
    for mutant_id, rep in jobs:
        if mutant_id in not_trained:
            train.setdefault((source_of[mutant_id], int(rep)), None)
            derived.append(DerivedJob(study.by_id[mutant_id], int(rep),
                                      source_record(plan, mutant_id, rep, runs_dir)))
        else:
            train.setdefault((mutant_id, int(rep)), None)
    return list(train), derived


# ------------------------------------------------------------------------------- derived rows
def _phase(main: dict, name: str) -> dict | None:
    return next((p for p in main.get("phases") or [] if p.get("name") == name), None)


def _whole(v) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer() else None


def source_problem(rec: dict, mutant: Mutant, repetition: int) -> str | None:
    """Why record ``rec`` cannot give ``mutant``'s repetition ``repetition``, or None."""
    run = rec.get("run_id")
    if rec.get("mode") != "single":
        return f"source run {run} is not a single-mode run"
    if rec.get("status") != "ok":
        return f"source run {run} is {rec.get('status')} ({rec.get('reason') or 'no reason given'})"
    if rec.get("schedule_depends_on_epochs") is not False:
        return (f"source run {run} does not record schedule_depends_on_epochs false (it records "
                f"{rec.get('schedule_depends_on_epochs')!r})")
    if int(rec.get("repetition", -1)) != int(repetition):
        return f"source run {run} is repetition {rec.get('repetition')}, not {repetition}"
    req, want = dict(rec.get("requested") or {}), dict(mutant.hp)
    e_src, e = _whole(req.pop("epochs", None)), _whole(want.pop("epochs", None))
    if req.keys() != want.keys() or any(not math.isclose(float(req[k]), float(want[k]), rel_tol=1e-9)
                                        for k in req):
        return f"source run {run} trained other hyperparameters than {mutant.mutant_id} (besides epochs)"
    if e_src is None or e is None or e_src <= e:
        return f"source run {run} trained {e_src} epochs, not more than {mutant.mutant_id}'s {e}"
    main = ((rec.get("energy") or {}).get("phases") or {}).get("main") or {}
    if not main.get("training"):
        return f"source run {run} has no training window (no phase marks)"
    if not any(r.get("epoch") == e for r in main.get("epochs") or []):
        return f"source run {run} has no accepted mark of epoch {e}"
    return None


def _net(gross: dict[str, float | None], energy: dict, duration: float) -> dict[str, float | None]:
    """Net energies of a stretch of ``duration`` seconds, per domain and in total: the phases' formula
    (greenhp.energy.phases.net_total: gross minus the record's idle power x duration; the CPU-time
    estimate has no idle part)."""
    from greenhp.energy.phases import DOMAINS, net_total

    energies = {f"{d}_j": gross.get(d) for d in DOMAINS}
    idle = energy.get("idle") or {}
    methods = {d: (energy.get(d) or {}).get("method") for d in DOMAINS}
    out = {d: net_total(energies, idle, methods, duration, [d]) for d in DOMAINS}
    out["total"] = net_total(energies, idle, methods, duration, energy["total"]["domains"])
    return out


def _gross(stretches: list[dict], energy: dict) -> dict[str, float | None]:
    out = {d: (sum(s[f"{d}_j"] for s in stretches) if all(s.get(f"{d}_j") is not None for s in stretches)
               else None) for d in ("gpu", "cpu", "dram")}
    parts = [out[d] for d in energy["total"]["domains"]]
    out["total"] = sum(parts) if parts and all(p is not None for p in parts) else None
    return out


def epoch_metric(rec: dict, main: dict, epoch: int) -> tuple[float | None, str | None]:
    """The task metric of the E-epoch run from epoch ``epoch``'s mark, or (None, why): only where the
    marks report the task metric (``<name>`` or ``test_<name>``) and the source's last epoch mark
    reports exactly its final metric (so the per-epoch value is the final evaluation, on the same data)."""
    name, final = rec["metric"]["name"], rec["metric"]["value"]
    rows = main.get("epochs") or []
    at = next(r for r in rows if r.get("epoch") == epoch)
    last = rows[-1]
    if at.get("metric_name") not in (name, f"test_{name}"):
        return None, f"the epoch marks report {at.get('metric_name')!r}, not the task metric {name!r}"
    if last.get("epoch") != _whole((rec.get("requested") or {}).get("epochs")):
        return None, f"the source's marks stop at epoch {last.get('epoch')}, so its final metric cannot be matched"
    if last.get("metric") is None or final is None or not math.isclose(last["metric"], final, rel_tol=1e-9,
                                                                       abs_tol=1e-12):
        return None, (f"the source's last epoch mark reports {last.get('metric_name')} {last.get('metric')}, its "
                      f"final {name} is {final}: the per-epoch value is not the final evaluation")
    if at.get("metric") is None:
        return None, f"epoch {epoch}'s mark has no finite {at.get('metric_name')}"
    return float(at["metric"]), None


def derived_row(rec: dict | None, problem: str | None, job: DerivedJob) -> dict[str, Any]:
    """The runs.tsv row (greenhp.record.RUN_COLUMNS) of ``job`` from its source record ``rec``
    (``problem``: why the record could not be read, from greenhp.record.read_record). A source that
    gives nothing to derive from yields a row with status ``not_derived`` and the reason."""
    from greenhp.record import to_row
    from greenhp.subjects import HYPERPARAMETERS
    from greenhp.units import accounting

    m, k = job.mutant, job.repetition
    ident = {"run_id": f"single__{m.mutant_id}__rep{k}", "mode": "single", "subject": m.subject,
             "mutant_id": m.mutant_id, "hyperparameter": m.hyperparameter, "operator": m.operator,
             "original": m.original, "value": m.value, "repetition": k, "partner": None, "derived": True,
             **{f"hp_{h}": m.hp.get(h) for h in HYPERPARAMETERS}}
    why = f"source run record {job.source_path} {problem}" if problem else source_problem(rec, m, k)
    if why:
        return {**ident, "status": NOT_DERIVED, "derived_from": job.source_run_id,
                "reason": f"not derived: {why}"}
    energy = rec["energy"]
    main = energy["phases"]["main"]
    e = int(m.hp["epochs"])
    at = next(r for r in main["epochs"] if r.get("epoch") == e)
    row = {c: v for c, v in to_row(rec).items() if not c.startswith("hp_")}
    row.update(ident, derived_from=rec["run_id"], status="ok", marks_note=None, epochs_marked=e,
               train_duration_s=at["t_s"])
    notes = [f"derived from {rec['run_id']} (its marks up to epoch {e})"]
    train = _gross([at], energy)
    for d in ("gpu", "cpu", "dram", "total"):
        row[f"train_{d}_energy_j"] = train[d]
    row["train_total_net_energy_j"] = _net(train, energy, at["t_s"])["total"]
    setup, evaluation, end = _phase(main, "setup"), _phase(main, "evaluation"), _phase(main, "end")
    if setup is None or evaluation is None or end is None:
        whole, net, dur = dict.fromkeys(("gpu", "cpu", "dram", "total")), {}, None
        notes.append("whole-process columns empty: the source has no evaluation phase (no run_end mark), so "
                     "what follows training cannot be taken from measurements")
    else:
        whole = _gross([setup, at, evaluation, end], energy)
        window = setup["duration_s"] + at["t_s"] + evaluation["duration_s"] + end["duration_s"]
        net = _net(whole, energy, window)
        dur = rec["timing"]["duration_s"] - (main["training"]["duration_s"] - at["t_s"])
    row["duration_s"] = dur
    for d in ("gpu", "cpu", "dram", "total"):
        row[f"{d}_energy_j"] = whole[d]
    for d in ("gpu", "cpu", "total"):
        row[f"{d}_net_energy_j"] = net.get(d)
        row[f"{d}_share_j"] = None  # pair-mode attribution: never derived (single mode only)
    acc = accounting(whole["total"], {"intensity_g_per_kwh": (rec.get("carbon") or {}).get("intensity_g_per_kwh")})
    row["energy_kwh"], row["co2e_g"] = acc["kwh"], acc["co2e_g"]
    value, why_metric = epoch_metric(rec, main, e)
    row["metric_value"] = value
    row["accuracy"] = value if row["metric_name"] == "accuracy" else None
    if why_metric:
        notes.append(f"task metric empty: {why_metric}")
    row["reason"] = "; ".join(notes)
    return row


# ------------------------------------------------------------------------------- the check
def _ok_single(df, mutant_id: str):
    import pandas as pd

    if df is None or df.empty:
        return df.iloc[0:0] if df is not None else pd.DataFrame()
    sel = df[(df["mutant_id"] == mutant_id) & (df["mode"].fillna("single") == "single") & (df["status"] == "ok")]
    return sel.assign(_rep=pd.to_numeric(sel["repetition"], errors="coerce")).dropna(subset=["_rep"]).set_index("_rep")


def _numbers(df, col: str):
    import pandas as pd

    return pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(float("nan"), index=df.index)


def _check_row(fam: Family, conf: str, col: str, meas, der) -> dict:
    """One row of the check: ``conf``'s derived rows ``der`` against its trained rows ``meas`` on the
    energy column ``col`` (both indexed by repetition)."""
    m, d = _numbers(meas, col).dropna(), _numbers(der, col).dropna()
    row = dict(family=fam.name, subject=fam.subject, configuration=conf, source=fam.source, energy_column=col)
    if d.empty:  # the column is left empty in every derived row (its reason is in the rows)
        return dict(row, n_pairs=0, ok=None, note="not derived (empty in every derived row): nothing to check")
    pairs = sorted(set(m.index) & set(d.index))
    spread = float(m.std(ddof=1)) if len(m) >= 2 else math.nan
    mm, dm = _numbers(meas, "metric_value"), _numbers(der, "metric_value")
    mpairs = [k for k in pairs if math.isfinite(mm.get(k, math.nan)) and math.isfinite(dm.get(k, math.nan))]
    metric_error = float((dm[mpairs] - mm[mpairs]).mean()) if mpairs else math.nan
    metric_spread = float(mm.dropna().std(ddof=1)) if mm.notna().sum() >= 2 else math.nan
    row.update(n_pairs=len(pairs), spread=spread, metric_error=metric_error, metric_spread=metric_spread)
    if not pairs or not math.isfinite(spread):
        return dict(row, ok=False, note=f"cannot check: {len(m)} measured and {len(pairs)} paired repetition(s) "
                                        "(the spread needs 2 measured ones)")
    err = float((d[pairs] - m[pairs]).mean())
    base = float(m[pairs].mean())
    row.update(derived_mean=float(d[pairs].mean()), measured_mean=base, energy_error=err,
               energy_error_pct=100.0 * err / base if base else math.nan)
    fails = []
    if abs(err) > spread:
        fails.append(f"energy error {err:.4g} J exceeds the run-to-run spread (SD) {spread:.4g} J")
    if mpairs and not (abs(metric_error) <= (metric_spread if math.isfinite(metric_spread) else 0.0) + 1e-12):
        fails.append(f"metric error {metric_error:.4g} exceeds its spread (SD) {metric_spread:.4g}")
    return dict(row, ok=not fails, note="; ".join(fails) or None)


def derive_check(plan: DerivePlan, runs, derived):
    """Derived against measured for every check configuration (CHECK_COLUMNS; one row per family,
    configuration and CHECK_ENERGIES column). ``runs``: the runs table (its trained rows are the
    measurements); ``derived``: the check configurations' derived rows (:func:`derived_row`).

    Paired by repetition (derived rep k comes from the source's rep k, with rep k's seed):
    ``energy_error`` = mean(derived - measured) over the paired repetitions, ``spread`` = the sample
    SD of the configuration's measured repetitions, ``ok`` = |energy_error| <= spread and, where the
    metric is derived, |metric_error| <= the SD of the measured metric. A configuration that cannot be
    checked (fewer than 2 measured repetitions, none paired) is not ok: its family is trained in full.
    ``ok`` is empty where the column is not derived at all (nothing to check)."""
    import pandas as pd

    from greenhp.analysis.derived import is_derived

    trained = runs[~is_derived(runs)] if not runs.empty else runs
    derived = pd.DataFrame(list(derived)) if not isinstance(derived, pd.DataFrame) else derived
    rows = [_check_row(f, conf, col, _ok_single(trained, conf), _ok_single(derived, conf))
            for f in plan.families for conf in f.check for col in CHECK_ENERGIES]
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def check_from_records(plan: DerivePlan, study, runs, runs_dir: str | Path = RUNS_DIR):
    """:func:`derive_check` with the derived rows built here: for each check configuration and each
    repetition the runs table has of it, the row derived from the source's record of that repetition."""
    from greenhp.record import read_record

    derived = []
    checks = {c for f in plan.families for c in f.check}
    sel = runs[runs["mutant_id"].isin(checks) & (runs["mode"].fillna("single") == "single")] if not runs.empty else runs
    for conf, rep in sorted({(str(m), int(float(r))) for m, r in zip(sel.get("mutant_id", []), sel.get("repetition", []))
                             if str(r).strip() not in ("", "nan", "<NA>")}):
        job = DerivedJob(study.by_id[conf], rep, source_record(plan, conf, rep, runs_dir))
        derived.append(derived_row(*read_record(job.source_path), job))
    return derive_check(plan, runs, derived)


def full_family_jobs(plan: DerivePlan, failed: Iterable[str], repetitions: int) -> list[tuple[str, int]]:
    """The (mutant_id, repetition) jobs a failed check adds: every derived configuration of each
    failed family that is not already trained as a check, at every repetition (the full design for
    that family: there is no later decision point for it, and its derived rows are not trusted)."""
    failed = set(failed)
    return [(m, k) for f in plan.families if f.name in failed for m in f.derived if m not in f.check
            for k in range(1, int(repetitions) + 1)]


def write_check(check, path: str | Path) -> None:
    """``results/lean/derive_check.tsv``: the check table, ``ok`` as true/false/empty."""
    from greenhp.analysis.tables import write_tsv

    out = check.copy()
    out["ok"] = [{"true": "true", "false": "false"}.get(str(v).strip().lower(), "") for v in out["ok"]]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_tsv(out, path)


def full_families(path: str | Path, plan: DerivePlan | None = None) -> dict[str, str]:
    """The families a written check table (:func:`write_check`) sends to full training; none when the
    file does not exist yet (before the checkpoint). Cheap (no pandas): parse time. The table is
    checked (a hand edit or a table of another study must not change what is trained unnoticed): a
    missing column, an ``ok`` other than true/false/empty, or (with ``plan``) a family the plan does
    not have is a LeanError naming the file, line and value."""
    import csv

    from greenhp.analysis.derived import failed_families  # the check's reader, shared with the summary
    from greenhp.lean.settings import LeanError

    p = Path(path)
    if not p.exists():
        return {}
    with open(p, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        need = ("family", "configuration", "energy_column", "ok", "note")
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise LeanError(f"{p}: no column {', '.join(missing)} (a derive check table of greenhp.lean.derive)")
        rows = list(reader)
    known = {f.name for f in plan.families} if plan is not None else None
    for line, r in enumerate(rows, start=2):
        ok = str(r["ok"]).strip().lower()
        if ok not in ("true", "false", ""):
            raise LeanError(f"{p}, line {line}: ok {r['ok']!r} is not true, false or empty")
        if known is not None and r["family"] not in known:
            raise LeanError(f"{p}, line {line}: family {r['family']!r} is not an epochs family this study "
                            f"derives (families: {', '.join(sorted(known)) or 'none'})")
    return failed_families(rows)
