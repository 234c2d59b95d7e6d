"""The cost package's words: what ``greenhp plan --estimate`` prints and the summary page's
footprint lines. Numbers come computed (greenhp.cost.predict, greenhp.cost.footprint); this module
only formats them."""

from __future__ import annotations

from typing import Mapping

from greenhp.cost.items import ITEMS, TRAINING
from greenhp.cost.model import Calibration
from greenhp.cost.predict import Estimate, lean_ratio
from greenhp.units import J_PER_KWH, accounting, kwh


def hms(s: float | None) -> str:
    """Seconds as ``N s``, ``N min`` or ``N h``."""
    if s is None:
        return "n/a"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def joules(x: float | None) -> str:
    """Joules as ``N J``, ``N kJ`` or, from a tenth of a kWh on, ``N kWh``."""
    if x is None:
        return "n/a"
    return f"{kwh(x):.3g} kWh" if x >= J_PER_KWH / 10 else f"{x / 1000:.3g} kJ" if x >= 1000 else f"{x:.3g} J"


def format_estimate(est: Estimate) -> str:
    """The short table ``greenhp plan --estimate`` prints."""
    it = est.items
    lines = [f"estimate (calibrated on {est.where}; {est.lanes} training job(s) at a time)"]
    w = max(len(n) for n in ITEMS)
    lines.append(f"{'item':<{w}}  {'jobs':>5}  {'time':>22}  {'energy':>28}  basis")
    for name in ITEMS:
        r = it[name]
        t = f"{hms(r['seconds'])} [{hms(r['seconds_low'])}-{hms(r['seconds_high'])}]" if r.get("seconds") else "-"
        e = (f"{joules(r['energy_j'])} [{joules(r['energy_j_low'])}-{joules(r['energy_j_high'])}]"
             if r.get("energy_j") else ("not estimated" if r.get("energy_j") is None and r.get("seconds") else "-"))
        lines.append(f"{name:<{w}}  {r.get('count', ''):>5}  {t:>22}  {e:>28}  {r.get('basis', '')}")
    lo, c, hi = est.device_hours
    lines.append(f"{est.device_hours_unit}: {c:.3g} [{lo:.3g}-{hi:.3g}]")
    tot = it["total"]
    a, alo, ahi = (accounting(tot.get(k), est.carbon) for k in ("energy_j", "energy_j_low", "energy_j_high"))
    if a["kwh"] is not None:
        lines.append(f"energy: {a['kwh']:.3g} kWh [{alo['kwh']:.3g}-{ahi['kwh']:.3g}]"
                     + (f"; CO2e: {a['co2e_g']:.3g} g [{alo['co2e_g']:.3g}-{ahi['co2e_g']:.3g}]"
                        f" at {est.carbon['intensity_g_per_kwh']:g} g/kWh" if a["co2e_g"] is not None else "")
                     + (f"; cost: {a['cost']:.3g} [{alo['cost']:.3g}-{ahi['cost']:.3g}]"
                        f" at {est.carbon['price_per_kwh']:g}/kWh" if a["cost"] is not None else ""))
    lines.append(f"wall time for the study: {hms(it['wall_time']['seconds'])} "
                 f"[{hms(it['wall_time']['seconds_low'])}-{hms(it['wall_time']['seconds_high'])}]")
    lines += [f"note: {n}" for n in est.notes]
    if est.lean is not None:
        lines += [""] + format_lean(est)
    return "\n".join(lines)


def _rng(c, lo, hi, fmt: str = ".3g") -> str:
    return "n/a" if c is None else f"{c:{fmt}} [{lo:{fmt}}-{hi:{fmt}}]" if lo is not None and hi is not None \
        else f"{c:{fmt}}"


def format_lean(est: Estimate) -> list[str]:
    """The full design and the lean design side by side (``greenhp plan --estimate`` with
    ``lean.enabled``): jobs, device hours, kWh, CO2e and the ratio lean/full with its range."""
    lean = est.lean
    full_tot, lean_tot = est.items["total"], lean.items["total"]
    fa = [accounting(full_tot.get(k), est.carbon) for k in ("energy_j", "energy_j_low", "energy_j_high")]
    la = [accounting(lean_tot.get(k), est.carbon) for k in ("energy_j_low", "energy_j", "energy_j_high")]
    fa = [fa[1], fa[0], fa[2]]  # low, central, high
    unit = est.device_hours_unit
    rows = [("jobs", _rng(full_tot["count"], None, None, ".0f"),
             _rng(lean.jobs[1], lean.jobs[0], lean.jobs[2], ".0f"), lean_ratio(est, "jobs")),
            (unit, _rng(est.device_hours[1], est.device_hours[0], est.device_hours[2]),
             _rng(lean.device_hours[1], lean.device_hours[0], lean.device_hours[2]), lean_ratio(est, "device_hours"))]
    for key, label in (("kwh", "energy (kWh)"), ("co2e_g", "CO2e (g)")):
        if fa[1][key] is not None:
            rows.append((label, _rng(fa[1][key], fa[0][key], fa[2][key]), _rng(la[1][key], la[0][key], la[2][key]),
                         lean_ratio(est, "energy_j")))
    d = lean.derived_rows
    rows.append(("derived rows", "0", f"{_rng(d[1], d[0], d[2], '.0f')} ({lean.derived_configurations} "
                 "configuration(s) read from longer runs, not trained)" if lean.derived_configurations
                 else "0", (None, None, None)))
    lines = [f"full and lean design (lean.first_wave {lean.first_wave} of {lean.repetitions} repetitions; "
             f"lean.expected_extension {lean.expected_extension:g} of the mutants' comparisons get the rest)"]
    lines.append(f"{'':<14}  {'full':>28}  {'lean':>28}  lean/full")
    for label, full, lean_s, (r_lo, r_c, r_hi) in rows:
        lines.append(f"{label:<14}  {full:>28}  {lean_s:>28}  {_rng(r_c, r_lo, r_hi, '.2f') if r_c is not None else ''}")
    lines.append("note: lean ranges run from none of the remaining repetitions run (at the model's low end) to "
                 "all of them (at its high end); the ratio's range is none to all at the model's central value")
    return lines


def format_calibration(cal: Calibration) -> str:
    """The calibration's models, pair factor and overheads, as ``greenhp plan --estimate`` prints them."""
    lines = ["calibration (per run of the original: start-up + epochs x per-epoch):"]
    for name, m in cal.models.items():
        e = (f"{m.fixed_j:.4g} J + {m.epoch_j:.4g} J/epoch ({m.energy_basis}"
             f"{', estimated' if m.energy_estimated else ''})" if m.fixed_j is not None else "energy not measured")
        lines.append(f"  {name}: {m.fixed_s:.3g} s + {m.epoch_s:.4g} s/epoch at batch {m.batch_size}; {e}; "
                     f"spread {100 * m.spread:.0f} %; from {m.basis}")
    if cal.pair is not None:
        lines.append(f"  pair: time x{cal.pair.time:.3g}, energy x{cal.pair.energy:.3g} ({cal.pair.basis})")
    lines.append(f"  job start-up {cal.job_start_s:.2f} s; workflow start-ups {cal.workflow_s:.1f} s")
    return "\n".join(lines)


def _in_range(inside: bool | None) -> str:
    return "no range" if inside is None else "inside its range" if inside else "outside its range"


def footprint_summary_lines(rows: list[dict], carbon: Mapping | None) -> list[str]:
    """A few sentences on the study's own footprint, for the summary page: the footprint rows'
    own numbers (greenhp.cost.footprint.footprint, the same rows footprint.tsv holds), of the items
    known before the analysis ends (greenhp.cost.items.RECORD_ITEMS and the total's energy, kWh, CO2e
    and cost)."""
    carbon = carbon or {}
    by = {r["item"]: r for r in rows}
    out = design_lines(by, carbon) + [_training_line([by[k] for k in TRAINING if k in by])]
    ib, sw = by.get("idle_baseline"), by.get("settle_wait")
    if ib and ib["count"]:
        out.append(f"- Idle baselines: {ib['count']} taken, {hms(ib['seconds'])}, {joules(ib['energy_j'])}.")
    else:
        out.append("- Idle baselines: none taken.")
    if sw and sw["count"]:
        out.append(f"- Settle waits: {sw['count']}, {hms(sw['seconds'])} in all (time only, not metered).")
    tot = by.get("total")
    if tot and tot.get("kwh") is not None:
        parts = [f"{tot['kwh']:.3g} kWh"]
        if tot.get("co2e_g") is not None:
            parts.append(f"{tot['co2e_g']:.3g} g CO2e at {carbon['intensity_g_per_kwh']:g} g/kWh")
        if tot.get("cost") is not None:
            parts.append(f"cost {tot['cost']:.3g} at {carbon['price_per_kwh']:g} per kWh")
        out.append(f"- In all: {', '.join(parts)} (training and baselines; the total of ``footprint.tsv``).")
    return out + _versus_estimate_lines(by, tot)


def lean_share(by: Mapping[str, dict]) -> tuple[float | None, float | None]:
    """(training time, training energy) of what ran as a share of the full design's (footprint rows
    ``saving`` and ``full_design``): the one share footprint.tsv's note and the summary show."""
    full, saved = by.get("full_design") or {}, by.get("saving") or {}
    out = []
    for q in ("seconds", "energy_j"):
        f, s = full.get(q), saved.get(q)
        out.append((f - s) / f if f and s is not None else None)
    return out[0], out[1]


def design_lines(by: Mapping[str, dict], carbon: Mapping) -> list[str]:
    """The summary's lines on the design that ran: full, or lean with its extensions, derived rows
    and the saving against the full design (an estimate), from footprint rows :data:`LEAN_ITEMS`."""
    if "design" not in by:
        return ["- Design: full (every configuration trained at every repetition)."]
    ext, der, sv = by["extended"], by["derived"], by["saving"]
    out = [f"- Design: lean ({by['design']['note']}); "
           + (f"{ext['count']} {ext['note']}" if ext.get("count") is not None else ext["note"])
           + f"; {der['count']} row(s) derived from longer runs (not trained)."]
    parts = [f"{sv['count']} job(s) not run", hms(sv["seconds"]), joules(sv["energy_j"])]
    if sv.get("co2e_g") is not None:
        parts.append(f"{sv['co2e_g']:.3g} g CO2e at {carbon['intensity_g_per_kwh']:g} g/kWh")
    if sv.get("cost") is not None:
        parts.append(f"cost {sv['cost']:.3g}")
    t_share, e_share = lean_share(by)
    share = (f"; the study used {100 * e_share:.0f} % of the full design's training energy"
             f" ({100 * t_share:.0f} % of its training time)" if e_share is not None and t_share is not None else "")
    out.append(f"- Saved against the full design (an estimate, not a measurement: each job not run at the "
               f"mean of its configuration's measured runs): {', '.join(parts)}{share} "
               "(rows saving and full_design of ``footprint.tsv``).")
    return out


def _training_line(runs: list[dict]) -> str:
    """The training runs' line: how many of each mode, their statuses, time and energy."""
    n = sum(r["count"] for r in runs)
    secs = sum(r["seconds"] for r in runs)
    es = [r["energy_j"] for r in runs if r.get("energy_j") is not None]
    methods = sorted({m for r in runs for m in str(r.get("energy_method") or "").split("+") if "estimate" in m})
    est = f" (includes estimates: {', '.join(methods)})" if methods else ""
    status: dict[str, int] = {}
    for r in runs:
        for part in filter(None, str(r.get("status") or "").split(", ")):
            k, v = part.rsplit(" ", 1)
            status[k] = status.get(k, 0) + int(v)
    st = "all ok" if set(status) <= {"ok"} else ", ".join(f"{k} {v}" for k, v in sorted(status.items()))
    modes = ", ".join(f"{r['count']} {r['item'][len('training_'):]}" for r in runs)
    return (f"- Training: {n} runs ({modes}; {st}) "
            f"took {hms(secs)} in their measured windows and used "
            f"{joules(sum(es)) if es else 'an unmeasured amount of energy'}{est}.")


def _versus_estimate_lines(by: dict[str, dict], tot: dict | None) -> list[str]:
    """The lines comparing the training runs and the total energy with the estimate (when one was made)."""
    compared = []
    for item, label in (("training_single", "single runs"), ("training_pair", "pair runs")):
        r = by.get(item) or {}
        said = [f"{what} {r[f'{q}_vs_estimate']:.2f} x ({_in_range(r.get(f'{q}_in_estimate_range'))})"
                for q, what in (("seconds", "time"), ("energy", "energy")) if r.get(f"{q}_vs_estimate") is not None]
        if said:
            compared.append(f"{label}: {', '.join(said)}")
    if tot and tot.get("energy_vs_estimate") is not None:
        compared.append(f"energy in all: {tot['energy_vs_estimate']:.2f} x "
                        f"({_in_range(tot.get('energy_in_estimate_range'))})")
    if compared:
        return ["- Against the estimate made before the study (``estimate.tsv``): " + "; ".join(compared) + ".",
                "- The whole study's time (analysis jobs included) and its wall time, each against the "
                "estimate, are in ``results/footprint.tsv``, written after this page."]
    return ["- The whole study's time (analysis jobs included) and its wall time are in "
            "``results/footprint.tsv``, written after this page."]
