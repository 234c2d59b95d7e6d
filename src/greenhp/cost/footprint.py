"""What the study used: the workflow's ``footprint`` rule (results/footprint.tsv) and the summary
page's footprint lines, both from :func:`study_footprint` (the same records, estimate and carbon)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from greenhp.cost.items import METERED, TRAINING
from greenhp.cost.model import idle_power_w
from greenhp.cost.snakemake_metadata import snakemake_jobs
from greenhp.cost.text import footprint_summary_lines, lean_share
from greenhp.cost.tsv import read_estimate_tsv
from greenhp.units import accounting


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Seconds covered by at least one of the ``(start, end)`` intervals: overlapping jobs count once,
    the gaps between them (between two invocations of Snakemake, say) not at all."""
    total, cur_start, cur_end = 0.0, None, None
    for start, end in sorted((float(s), float(e)) for s, e in intervals):
        if end < start:
            continue
        if cur_end is None or start > cur_end:
            total += (cur_end - cur_start) if cur_end is not None else 0.0
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    return total + ((cur_end - cur_start) if cur_end is not None else 0.0)


def versus_estimate(actual: float | None, estimated: Mapping | None, q: str) -> tuple[float | None, bool | None]:
    """``(actual / estimate, whether actual lies within the estimate's range)`` of the quantity ``q``
    (``seconds`` or ``energy_j``) of one item; None where there is nothing to compare. The one
    comparison footprint.tsv and the summary page both show."""
    if actual is None or not estimated or not estimated.get(q):
        return None, None
    low, high = estimated.get(f"{q}_low"), estimated.get(f"{q}_high")
    inside = None if low is None or high is None else bool(low <= actual <= high)
    return actual / estimated[q], inside


def footprint(records: list[dict], *, carbon: Mapping | None, estimate: dict[str, dict] | None = None,
              jobs: dict[str, dict] | None = None, record_paths: list[str] | None = None) -> list[dict]:
    """The study's own footprint, one row per item (greenhp.cost.tsv.FOOT_COLUMNS).

    ``records``: every run record (ok or not); ``carbon``: the study's current ``carbon`` settings
    (kWh, CO2e and cost of every row: :func:`greenhp.units.accounting`; the intensity a record
    stored at training time is not used); ``jobs``: greenhp.cost.snakemake_metadata.snakemake_jobs
    (job times, when known); ``estimate``: greenhp.cost.tsv.read_estimate_tsv (when one was made).
    Energies of the training items are the sums of the records' whole-window totals (a run without a
    total is counted and named in ``note``); idle baselines are each record's measured idle power x
    its idle window; settle waits are times (their energy is not metered). The wall time is the union
    of the jobs' intervals (:func:`union_seconds`). Each row with an estimate has its ratio and range
    verdict (:func:`versus_estimate`)."""
    jobs = jobs or {}
    rows = [training_row(records, mode) for mode in ("single", "pair")]
    rows += [idle_baseline_row(records), settle_wait_row(records),
             job_overhead_row(records, record_paths or [], jobs), workflow_row(jobs)]
    rows.append(total_row(rows, len(records)))
    rows.append(wall_time_row(jobs))
    for r in rows:
        r.update(accounting(r.get("energy_j"), carbon))
        _compare(r, (estimate or {}).get(r["item"]))
    return rows


def training_row(records: list[dict], mode: str) -> dict:
    """Item ``training_<mode>``: the runs of that mode, their statuses, windows and total energies."""
    recs = [r for r in records if r.get("mode") == mode]
    status: dict[str, int] = {}
    for r in recs:
        status[r.get("status", "?")] = status.get(r.get("status", "?"), 0) + 1
    energies = [((r.get("energy") or {}).get("total") or {}).get("energy_j") for r in recs]
    missing = sum(e is None for e in energies)
    methods = sorted({f"{d}:{(r.get('energy') or {}).get(d, {}).get('method')}" for r in recs
                      for d in ("gpu", "cpu", "dram")
                      if ((r.get("energy") or {}).get(d) or {}).get("energy_j") is not None})
    return {"item": f"training_{mode}", "count": len(recs),
            "status": ", ".join(f"{k} {v}" for k, v in sorted(status.items())),
            "seconds": sum(float(r["timing"]["duration_s"]) for r in recs),
            "energy_j": sum(e for e in energies if e is not None) if len(recs) > missing else None,
            "energy_method": "+".join(methods) or ("none measured" if recs else ""),
            "note": (f"{missing} run(s) without a total energy are not in the sum" if missing else
                     "every run's whole-window total, ok or not")}


def idle_baseline_row(records: list[dict]) -> dict:
    """Item ``idle_baseline``: each record's measured idle power x its idle window."""
    idle_t = idle_j = 0.0
    n_idle = idle_unmetered = 0
    for r in records:
        idle = (r.get("energy") or {}).get("idle") or {}
        w = idle_power_w(idle)
        secs = float(idle.get("seconds") or 0.0)
        if secs > 0 and w is not None:
            n_idle += 1
            idle_t += secs
            idle_j += w * secs
        elif secs > 0:
            idle_unmetered += 1
    return {"item": "idle_baseline", "count": n_idle, "seconds": idle_t,
            "energy_j": idle_j if n_idle else (0.0 if not idle_unmetered else None),
            "energy_method": "measured idle power x window" if n_idle else "",
            "note": (f"{idle_unmetered} run(s) asked for a baseline with no meter to take it (no wait)"
                     if idle_unmetered else "no baseline taken" if not n_idle else "")}


def settle_wait_row(records: list[dict]) -> dict:
    """Item ``settle_wait``: the records' GPU settle waits (time only)."""
    settle_t, n_settle = 0.0, 0
    for r in records:
        idle = (r.get("energy") or {}).get("idle") or {}
        if idle.get("settle_s") is not None:
            n_settle += 1
            settle_t += float(idle["settle_s"])
    return {"item": "settle_wait", "count": n_settle, "seconds": settle_t, "energy_j": None,
            "energy_method": "", "note": "time only: the wait reads power to decide, it is not metered"
            if n_settle else "no settle wait (no GPU or settle_timeout_s 0)"}


def job_overhead_row(records: list[dict], paths: list[str], jobs: dict[str, dict]) -> dict:
    """Item ``job_overhead``: the training jobs' time outside their measured windows (Snakemake's job
    times of the records at ``paths``, less each window, metered baseline and settle wait)."""
    train_wall = 0.0
    n_timed = 0
    for p, r in zip(paths, records):
        j = jobs.get(p)
        if j is None:
            continue
        n_timed += 1
        idle = (r.get("energy") or {}).get("idle") or {}
        base = float(idle.get("seconds") or 0.0) if idle_power_w(idle) is not None else 0.0
        train_wall += (j["endtime"] - j["starttime"]) - float(r["timing"]["duration_s"]) - base \
            - float(idle.get("settle_s") or 0.0)
    return {"item": "job_overhead", "count": n_timed, "seconds": train_wall if n_timed else None,
            "energy_j": None, "energy_method": "",
            "note": ("training jobs' time outside their measured windows (Snakemake's job times); "
                     "energy not measured") if n_timed else "no Snakemake job times found"}


def workflow_row(jobs: dict[str, dict]) -> dict:
    """Item ``workflow``: the non-training jobs (but the footprint's own), each rule's intervals' union."""
    by_rule: dict[str, list[tuple[float, float]]] = {}
    for v in jobs.values():  # a job with several outputs has one metadata record per output
        if not str(v.get("rule", "")).startswith("train_") and v.get("rule") != "footprint":
            by_rule.setdefault(v["rule"], []).append((v["starttime"], v["endtime"]))
    rule_s = {k: union_seconds(v) for k, v in by_rule.items()}
    return {"item": "workflow", "count": len(by_rule) if by_rule else None,
            "seconds": sum(rule_s.values()) if by_rule else None,
            "energy_j": None, "energy_method": "",
            "note": ("non-training jobs: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(rule_s.items()))
                     + "; energy not measured (they run outside the energy wrapper)") if by_rule
            else "no Snakemake job times found"}


def total_row(rows: list[dict], n_records: int) -> dict:
    """Item ``total``: the rows' seconds; the energy of the metered items (greenhp.cost.items.METERED)."""
    total_s = sum(r["seconds"] for r in rows if r["seconds"] is not None)
    e_parts = [r["energy_j"] for r in rows if r["item"] in METERED]
    return {"item": "total", "count": n_records, "seconds": total_s,
            "energy_j": sum(e for e in e_parts if e is not None) if any(e is not None for e in e_parts) else None,
            "energy_method": "sum of the rows above",
            "note": "energy: training runs and idle baselines (settle waits and analysis not metered)"}


def wall_time_row(jobs: dict[str, dict]) -> dict:
    """Item ``wall_time``: the union of the jobs' intervals (but the footprint's own)."""
    intervals = [(v["starttime"], v["endtime"]) for v in jobs.values() if v.get("rule") != "footprint"]
    wall = union_seconds(intervals) if intervals else None
    return {"item": "wall_time", "count": None, "seconds": wall,
            "energy_j": None, "energy_method": "",
            "note": ("time some job of the study was running: the union of Snakemake's job intervals, "
                     "across invocations (the gaps between them and Snakemake's own start-up not counted)")
            if wall is not None else "no Snakemake job times found"}


def _compare(row: dict, est: dict | None) -> None:
    """Add the estimate of ``row``'s item (when there is one), the ratios and the range verdicts."""
    if not est:
        return
    for q in ("seconds", "energy_j"):
        for sfx in ("", "_low", "_high"):
            row[f"estimated_{q}{sfx}"] = est.get(f"{q}{sfx}")
    for q, name in (("seconds", "seconds"), ("energy_j", "energy")):
        row[f"{name}_vs_estimate"], row[f"{name}_in_estimate_range"] = versus_estimate(row.get(q), est, q)


def load_records(paths: Iterable[str | Path], skipped: list[tuple[str, str]] | None = None
                 ) -> tuple[list[dict], list[str]]:
    """The run records at ``paths`` that pass the run-record check (greenhp.record.read_record), and
    their paths. Each other one is left out and, when ``skipped`` is given, appended to it as
    (path, why) (see :func:`note_invalid`)."""
    from greenhp.record import read_record

    recs, names = [], []
    for p in paths:
        rec, problem = read_record(p)
        if problem:
            if skipped is not None:
                skipped.append((str(p), problem))
            continue
        recs.append(rec)
        names.append(str(p))
    return recs, names


def note_invalid(rows: list[dict], skipped: list[tuple[str, str]]) -> list[dict]:
    """Count the records :func:`load_records` left out in the footprint ``rows`` of their mode (status
    ``invalid N``, count, note): their times and energies are not in the sums. Returns ``rows``."""
    from greenhp.aggregate import invalid_row

    modes = [invalid_row(p, why).get("mode") for p, why in skipped]  # from the path, as runs.tsv's row
    for mode in ("single", "pair"):
        n = modes.count(mode)
        row = next((r for r in rows if r.get("item") == f"training_{mode}"), None)
        if n and row is not None:
            row["count"] = (row.get("count") or 0) + n
            row["status"] = ", ".join(filter(None, [row.get("status"), f"invalid {n}"]))
            row["note"] = (f"{n} invalid record(s) (failing the run-record check) are not in the sums; "
                           + (row.get("note") or ""))
    return rows


def study_footprint(record_paths: Iterable[str | Path], *, carbon: Mapping | None,
                    estimate_path: str | Path | None = None, metadata_dir: str | Path | None = None,
                    extra_outputs: Iterable[str] = (), skipped: list | None = None, lean=None,
                    runs_path: str | Path | None = None, decisions_path: str | Path | None = None) -> list[dict]:
    """:func:`footprint` of the run records at ``record_paths`` under the ``carbon`` settings, against
    ``estimate_path`` (estimate.tsv) when given and present; with ``metadata_dir``
    (``.snakemake/metadata``) the job times of these records and of ``extra_outputs``.

    Rule ``footprint`` (footprint.tsv) and the summary page (rule ``plots``, before the job times
    are all known: no ``metadata_dir``) both call this with the same records, estimate and carbon. Records failing the run-record check
    are left out of the sums, counted (:func:`note_invalid`) and appended to ``skipped`` as (path, why).

    ``lean``: the study's greenhp.lean.settings.LeanSettings; when its design is ``lean`` the rows
    :data:`LEAN_ITEMS` follow (:func:`lean_saving` on the runs table at ``runs_path`` and the decisions
    at ``decisions_path``, when given) and the estimate compared with is estimate.tsv's lean design
    (none where it has no lean rows). Full design (``lean`` None or off): the rows are as before."""
    skipped = [] if skipped is None else skipped
    is_lean = lean is not None and lean.design == "lean"
    records, names = load_records(record_paths, skipped)
    est = read_estimate_tsv(estimate_path, scope="lean" if is_lean else "study") \
        if estimate_path and Path(estimate_path).is_file() else None
    jobs = snakemake_jobs(metadata_dir) if metadata_dir else {}
    wanted = set(names) | set(map(str, extra_outputs))
    jobs = {k: v for k, v in jobs.items() if k in wanted}
    rows = note_invalid(footprint(records, estimate=est or None, jobs=jobs, carbon=carbon, record_paths=names),
                        skipped)
    if not is_lean:
        return rows
    runs = read_table(runs_path, ("mode", "mutant_id", "partner", "repetition", "status", "duration_s",
                                  "total_energy_j"), "runs table") if runs_path else []
    saving = lean_saving([r for r in rows if r["item"] in TRAINING], runs, read_decisions(decisions_path),
                         repetitions=lean.repetitions, first_wave=lean.first_wave, carbon=carbon)
    return rows + lean_rows(saving, first_wave=lean.first_wave, repetitions=lean.repetitions, carbon=carbon)


def summary_footprint(record_paths: Iterable[str | Path], *, carbon: Mapping | None,
                      estimate_path: str | Path | None = None, lean=None, runs_path: str | Path | None = None,
                      decisions_path: str | Path | None = None) -> list[str]:
    """The summary page's footprint lines: greenhp.cost.text.footprint_summary_lines of
    :func:`study_footprint` (no job times; the same lean arguments as rule footprint's); [] where
    there are no records (a re-analysis)."""
    record_paths = list(record_paths)
    if not record_paths:
        return []
    return footprint_summary_lines(study_footprint(record_paths, carbon=carbon, estimate_path=estimate_path,
                                                   lean=lean, runs_path=runs_path, decisions_path=decisions_path),
                                   carbon)


# ------------------------------------------------------------------------------------------------
# The lean design (docs/lean.md "Cost before and after"): which design ran, and what it saved
# against its full design (an estimate). Rows added to footprint.tsv only when the lean design ran.
# ------------------------------------------------------------------------------------------------
LEAN_ITEMS = ("design", "extended", "derived", "saving", "full_design")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}


def _flag(value, where: str) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{where}: {value!r} is not true/false")


def _number(value) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if x == x else None  # NaN: missing


def read_table(path: str | Path, required: Iterable[str], what: str) -> list[dict]:
    """The rows of a TSV at ``path`` (``what`` names it in errors), which must have ``required``."""
    import csv

    with open(path, newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{what} {path}: missing column(s) {', '.join(missing)}")
        return list(reader)


def read_decisions(path: str | Path | None) -> list[dict] | None:
    """results/lean/decisions.tsv (greenhp.lean.decide.DECISION_COLUMNS), ``extend`` as a bool;
    None when no path is given (the full design, or a lean design without extensions)."""
    if path is None:
        return None
    rows = read_table(path, ("subject", "mode", "partner", "mutant_id", "extend"), "lean decisions")
    for i, r in enumerate(rows, start=2):
        r["extend"] = _flag(r["extend"], f"lean decisions {path} line {i} ({r['mutant_id']}), column extend")
    return rows


def _key(r: Mapping) -> tuple[str, str, str]:
    return str(r.get("mode") or ""), str(r.get("mutant_id") or ""), str(r.get("partner") or "")


def _missing_jobs(runs: list[dict], decisions: list[dict] | None, repetitions: int, first_wave: int
                  ) -> tuple[dict, str]:
    """{(mode, mutant, partner, repetition): derived row or None} of the full design's jobs the lean
    design did not train, and where the not-extended groups came from."""
    have = {(*_key(r), int(float(r["repetition"]))) for r in runs if _number(r.get("repetition")) is not None}
    missing = {(*_key(r), int(float(r["repetition"]))): r for r in runs if r.get("_derived")}
    if decisions is not None:
        closed = {_key(d) for d in decisions if not d["extend"]}
        basis = "results/lean/decisions.tsv"
    else:  # no decision table given: a mutant configuration with no repetition after the first wave
        later = {_key(r) for r in runs if (_number(r.get("repetition")) or 0) > first_wave}
        closed = {_key(r) for r in runs if str(r.get("hyperparameter")) != "none"} - later \
            if first_wave < repetitions else set()
        basis = "the runs table (no decisions.tsv given)"
    for k in closed:
        for rep in range(first_wave + 1, repetitions + 1):
            if (*k, rep) not in have:
                missing[(*k, rep)] = None
    return missing, basis


def lean_saving(ran: list[dict], runs: list[dict], decisions: list[dict] | None, *, repetitions: int,
                first_wave: int, carbon: Mapping | None) -> dict:
    """What the lean design saved against its full design: an *estimate*, never a measurement.

    ``ran``: the footprint's training rows (what ran, measured); ``runs``: the runs table's rows
    (``derived`` true/false when the table has that column; absent = nothing derived); ``decisions``:
    :func:`read_decisions` (None: the not-extended groups are read from the runs table). A job the lean
    design did not run is a repetition ``first_wave+1..repetitions`` of a group that was not extended,
    with no row in the runs table, or a derived row. Its time and energy: a derived row's own
    (duration_s, total_energy_j) where present, else the mean of its configuration's ok trained runs
    (ok derived rows where none was trained); a job with neither is counted in ``unpredicted``. The
    full design = what ran + the jobs not run. Returns the numbers footprint.tsv's lean rows and the
    summary show (:func:`lean_rows`)."""
    runs = [dict(r, _derived=_flag(r.get("derived", ""), f"runs table row {r.get('run_id')}, column derived"))
            for r in runs]
    missing, basis = _missing_jobs(runs, decisions, repetitions, first_wave)
    means: dict[tuple, tuple[float | None, float | None]] = {}
    for k in {m[:3] for m in missing}:
        ok = [r for r in runs if _key(r) == k and r.get("status") == "ok"]
        pool = [r for r in ok if not r["_derived"]] or ok
        ds = [d for d in (_number(r.get("duration_s")) for r in pool) if d is not None]
        es = [e for e in (_number(r.get("total_energy_j")) for r in pool) if e is not None]
        means[k] = (sum(ds) / len(ds) if ds else None, sum(es) / len(es) if es else None)
    secs, energy, unpredicted, no_energy = 0.0, 0.0, 0, 0
    for m, row in missing.items():
        d = _number(row.get("duration_s")) if row else None
        e = _number(row.get("total_energy_j")) if row else None
        d, e = d if d is not None else means[m[:3]][0], e if e is not None else means[m[:3]][1]
        if d is None:
            unpredicted += 1
            continue
        secs += d
        if e is None:
            no_energy += 1
        else:
            energy += e
    ran_s = sum(r["seconds"] for r in ran)
    ran_e = [r["energy_j"] for r in ran]
    ran_j = sum(e for e in ran_e if e is not None) if any(e is not None for e in ran_e) else None
    return {"jobs_ran": sum(r["count"] for r in ran), "jobs_not_run": len(missing), "unpredicted": unpredicted,
            "no_energy": no_energy, "seconds": secs, "energy_j": energy, "ran_seconds": ran_s,
            "ran_energy_j": ran_j, "derived": sum(bool(r["_derived"]) for r in runs), "basis": basis,
            "groups": len(decisions) if decisions is not None else None,
            "extended": sum(d["extend"] for d in decisions) if decisions is not None else None,
            "saved": accounting(energy, carbon)}


def lean_rows(saving: dict, *, first_wave: int, repetitions: int, carbon: Mapping | None) -> list[dict]:
    """footprint.tsv's rows of a lean study (:data:`LEAN_ITEMS`) from :func:`lean_saving`."""
    saved, ran_j = saving["saved"], saving["ran_energy_j"]
    full_j = ran_j + saving["energy_j"] if ran_j is not None else None
    unpred = (f"; {saving['unpredicted']} job(s) with no ok run of their configuration to predict them from "
              "are not in it (the saving is a lower bound)" if saving["unpredicted"] else "")
    no_e = f"; {saving['no_energy']} job(s) without a measured energy to predict from" if saving["no_energy"] else ""
    rows = [
        {"item": "design", "status": "lean", "count": None, "seconds": None, "energy_j": None,
         "note": f"a first wave of {first_wave} of {repetitions} repetitions per mutant, "
                 "the rest only where a comparison was still open"},
        {"item": "extended", "count": saving["extended"], "seconds": None, "energy_j": None,
         "note": (f"comparison groups given the remaining repetitions, of {saving['groups']} "
                  "(results/lean/decisions.tsv)") if saving["groups"] is not None
         else "no decisions table given: the groups not extended are read from the runs table"},
        {"item": "derived", "count": saving["derived"], "seconds": None, "energy_j": None,
         "note": "runs-table rows read from a longer run's epoch marks, not trained"},
        {"item": "saving", "count": saving["jobs_not_run"], "seconds": saving["seconds"],
         "energy_j": saving["energy_j"], "energy_method": "estimate", **saved,
         "note": "an estimate, not a measurement: the full design's jobs the lean design did not run, each "
                 "at the mean time and energy of its configuration's ok runs (a derived row: its own), "
                 f"not-extended groups from {saving['basis']}{unpred}{no_e}"},
        {"item": "full_design", "count": saving["jobs_ran"] + saving["jobs_not_run"],
         "seconds": saving["ran_seconds"] + saving["seconds"], "energy_j": full_j,
         "energy_method": "measured + estimate", "status": None,
         "note": "training runs of the full design: what ran (measured) + the saving (estimated)"},
    ]
    rows[-1].update(accounting(full_j, carbon))
    t_share, e_share = lean_share({r["item"]: r for r in rows})
    if t_share is not None and e_share is not None:
        rows[-1]["note"] += (f"; the lean study used {100 * e_share:.0f} % of its training energy "
                             f"({100 * t_share:.0f} % of its training time)")
    return rows
