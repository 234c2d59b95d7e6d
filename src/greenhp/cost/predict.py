"""The study's predicted cost from a calibration: pure arithmetic, one function per item.

- jobs run one at a time per *lane*: locally every training job reserves all cores given to
  Snakemake (``train.job_threads: 0``), so there is one lane; with ``job_threads: k`` there are
  ``cores // k`` lanes, and at most one per GPU when training on GPUs;
- each job adds, outside its measured window: the job's own start-up (a Python process importing
  Snakemake's script support and the wrapper: measured by starting such a process), the idle
  baseline (``energy.idle_seconds``, only where there is a meter to take it: a GPU or RAPL), and the
  GPU settle wait (the median of the calibration records' waits; none without a GPU);
- the study adds Snakemake's start-up and its five non-training jobs (mutants, aggregate, stats,
  plots, footprint): measured as the start-up of those processes (a lower bound: it leaves out their
  computation);
- wall time = workflow part + (sum of job times) / lanes; device hours = sum of job times (GPU-hours
  on a GPU, else core-hours x the job's cores); kWh = run energy + idle baseline energy, in kWh;
  CO2e = kWh x ``carbon.intensity_g_per_kwh``; cost = kWh x ``carbon.price_per_kwh``
  (:func:`greenhp.units.accounting`, the one function every table and page uses).

Uncertainty: low and high of every total are the central value x (1 -/+ u),
``u = sqrt(s^2 + MODEL_ERROR^2)``, where ``s`` is the largest relative deviation of a calibration
record from the fitted model (weighted by each subject's share of the study; repeats on a loaded
machine spread widely, so does ``u``) and ``MODEL_ERROR`` the model's own error as observed in
``bench/estimate_check.py`` (``bench/RESULTS.md``); the batch-size limits of the model
(greenhp.cost.model) widen the range further where they apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from greenhp.cost.items import JOB_ITEMS, PARTS
from greenhp.cost.model import Calibration, median

#: relative error of the model itself (beyond the calibration's spread): bench/estimate_check.py measured
#: wall-time ratios 0.83 and 1.19 and energy ratios 0.97 and 1.03 on the loaded 2-core VM (bench/RESULTS.md)
MODEL_ERROR = 0.20
SUFFIXES = ("", "_low", "_high")
NO_ENERGY = {"energy_j": None, "energy_j_low": None, "energy_j_high": None}


@dataclass
class Estimate:
    configurations: list[dict]  # one row per configuration and mode (per job)
    items: dict[str, dict]  # study totals by item (greenhp.cost.items.ITEMS)
    lanes: int
    device: str
    device_hours: tuple[float, float, float]  # low, central, high
    device_hours_unit: str  # GPU-hours | core-hours
    carbon: dict
    where: str
    notes: list[str]
    lean: "LeanEstimate | None" = None  # the lean design beside it, when the study's lean.enabled


@dataclass
class LeanEstimate:
    """The study's lean design (greenhp.lean.design.lean_jobs) under the same calibration.

    ``items``, ``device_hours`` (and ``jobs``, ``derived_rows``): central = the first wave plus the
    expected share (``lean.expected_extension``) of the mutants' remaining repetitions; low = none
    extended, at the model's low end; high = all extended, at its high end. ``central``: the
    quantities ``jobs``, ``device_hours`` and ``energy_j`` at the model's central value for none,
    the expected share and all extended (:func:`lean_ratio` divides them by the full design's)."""
    first_wave: int
    repetitions: int
    expected_extension: float
    items: dict[str, dict]
    device_hours: tuple[float, float, float]
    jobs: tuple[float, float, float]
    derived_configurations: int
    derived_rows: tuple[float, float, float]
    central: dict[str, tuple[float | None, float | None, float | None]]


def lanes_for(config: dict, cores: int, gpus: int, device: str) -> int:
    """Training jobs that run at once (see the module doc)."""
    jt = int((config.get("train") or {}).get("job_threads") or 0)
    lanes = max(1, cores // jt) if jt > 0 else 1
    if device == "cuda":
        lanes = min(lanes, max(1, gpus))
    return lanes


def predict(config: dict, study, cal: Calibration, cores: int = 1, gpus: int = 0) -> Estimate:
    """The study's predicted cost from a calibration (pure arithmetic; see the module doc); with the
    study's lean design beside it when ``lean.enabled`` (:func:`lean_estimate`)."""
    notes = list(cal.notes)
    rows, weights = configuration_rows(study, cal)
    u = uncertainty(weights)
    items, lanes, dh, unit = design_items(config, cal, rows, u, cores, gpus, notes)
    carbon = config.get("carbon") or {}
    return Estimate(configurations=rows, items=items, lanes=lanes, device=cal.device, device_hours=dh,
                    device_hours_unit=unit, carbon={"intensity_g_per_kwh": carbon.get("intensity_g_per_kwh"),
                                                    "price_per_kwh": carbon.get("price_per_kwh")},
                    where=cal.where, notes=notes,
                    lean=lean_estimate(config, study, cal, rows, u, cores=cores, gpus=gpus))


def design_items(config: dict, cal: Calibration, rows: list[dict], u: float, cores: int, gpus: int,
                 notes: list[str]) -> tuple[dict[str, dict], int, tuple[float, float, float], str]:
    """The items, lanes and device hours of a design whose jobs are ``rows`` (``jobs`` per row)."""
    energy_cfg = config.get("energy") or {}
    items: dict[str, dict] = {"training_single": {**mode_total(rows, "single", u), "basis": "model x calibration"},
                              "training_pair": {**mode_total(rows, "pair", u),
                                                "basis": "model x calibration x pair factor"}}
    n_jobs = items["training_single"]["count"] + items["training_pair"]["count"]
    train_t = items["training_single"]["seconds"] + items["training_pair"]["seconds"]
    items["idle_baseline"] = idle_baseline_item(energy_cfg, cal, n_jobs, train_t, u)
    items["settle_wait"] = settle_wait_item(energy_cfg, cal, n_jobs, u, notes)
    items["job_overhead"] = job_overhead_item(cal, n_jobs, u)
    items["workflow"] = workflow_item(cal, u)
    items["total"] = total_item(items, n_jobs)
    lanes = lanes_for(config, cores, gpus, cal.device)
    items["wall_time"] = wall_time_item(items, lanes)
    job_cores = int((config.get("train") or {}).get("job_threads") or 0) or int(cores)
    dh, unit = device_hours(items, cal.device == "cuda", job_cores)
    return items, lanes, dh, unit


def configuration_rows(study, cal: Calibration) -> tuple[list[dict], list[tuple[float, float]]]:
    """One row per configuration and mode (per job: seconds and joules, central, low, high by batch
    size), and the (seconds, spread) weights of the uncertainty."""
    rows: list[dict] = []
    weights: list[tuple[float, float]] = []
    reps = study.repetitions
    spread = {s: m.spread for s, m in cal.models.items()}

    def single(m) -> dict:
        return cal.models[m.subject].run(m.hp.get("epochs"), m.hp.get("batch_size"))

    for m in study.mutants:
        r = single(m)
        rows.append({"mode": "single", "mutant_id": m.mutant_id, "subject": m.subject, "partner": "",
                     "epochs": m.hp.get("epochs"), "batch_size": m.hp.get("batch_size"), "jobs": reps, **r})
        weights.append((r["seconds"] * reps, spread[m.subject]))
    pair = cal.pair
    for m in study.mutants:
        for ps in study.partners_of(m.subject):
            partner = study.by_id[f"{ps}__original"]
            a, b = single(m), single(partner)
            if pair is None:
                raise ValueError("the study has pair runs but the calibration has no pair factor")
            r = {}
            for sfx in SUFFIXES:
                r[f"seconds{sfx}"] = pair.time * max(a[f"seconds{sfx}"], b[f"seconds{sfx}"])
                ea, eb = a[f"energy_j{sfx}"], b[f"energy_j{sfx}"]
                r[f"energy_j{sfx}"] = pair.energy * (ea + eb) if ea is not None and eb is not None else None
            rows.append({"mode": "pair", "mutant_id": m.mutant_id, "subject": m.subject,
                         "partner": partner.mutant_id, "epochs": m.hp.get("epochs"),
                         "batch_size": m.hp.get("batch_size"), "jobs": reps, **r})
            sp = max(spread[m.subject], spread[ps])
            weights.append((r["seconds"] * reps, math.sqrt(sp ** 2 + pair.spread ** 2)))
    return rows, weights


def lean_estimate(config: dict, study, cal: Calibration, rows: list[dict], u: float, *, cores: int,
                  gpus: int) -> LeanEstimate | None:
    """The lean design's cost (:class:`LeanEstimate`) from the full design's per-job ``rows`` and its
    uncertainty ``u``: each configuration's jobs are its first wave plus a share of its remaining
    repetitions (none, ``lean.expected_extension``, all); a derived configuration has no job. None
    when the study's lean design is off."""
    from greenhp.lean.design import lean_jobs
    from greenhp.lean.settings import lean_settings

    settings = lean_settings(config)
    if not settings.enabled:
        return None
    plan = {(p["mode"], p["mutant_id"], p["partner"]): p for p in lean_jobs(study, settings)}
    shares = (0.0, settings.expected_extension, 1.0)
    variants, derived = [], []
    for share in shares:
        vrows = []
        for r in rows:
            p = plan[(r["mode"], r["mutant_id"], r["partner"])]
            vrows.append({**r, "jobs": 0 if p["derived"] else p["first"] + share * p["extension"]})
        variants.append(design_items(config, cal, vrows, u, cores, gpus, []))
        derived.append(sum(p["first"] + share * p["extension"] for p in plan.values() if p["derived"]))
    (none, _, dh_lo, _), (mid, _, dh_c, _), (full, _, dh_hi, _) = variants
    items = {}
    for name, it in mid.items():
        items[name] = {**it, "basis": f"lean design: {it.get('basis', '')}"}
        for q in ("seconds", "energy_j"):
            items[name][f"{q}_low"], items[name][f"{q}_high"] = none[name].get(f"{q}_low"), full[name].get(f"{q}_high")
    jobs = tuple(v["total"]["count"] for v, *_ in variants)
    return LeanEstimate(first_wave=settings.first_wave, repetitions=settings.repetitions,
                        expected_extension=settings.expected_extension, items=items,
                        device_hours=(dh_lo[0], dh_c[1], dh_hi[2]), jobs=jobs,
                        derived_configurations=sum(p["derived"] for p in plan.values()),
                        derived_rows=tuple(derived),
                        central={"jobs": jobs, "device_hours": tuple(dh[1] for _, _, dh, _ in variants),
                                 "energy_j": tuple(v["total"]["energy_j"] for v, *_ in variants)})


def lean_ratio(est: Estimate, quantity: str) -> tuple[float | None, float | None, float | None]:
    """(none extended, expected, all extended) of the lean design's ``quantity`` (``jobs``,
    ``device_hours`` or ``energy_j``; kWh, CO2e and cost go as ``energy_j``) over the full design's,
    both at the model's central value (its own range applies to both alike). The one ratio
    ``greenhp plan --estimate`` prints."""
    full = {"jobs": est.items["total"]["count"], "device_hours": est.device_hours[1],
            "energy_j": est.items["total"]["energy_j"]}[quantity]
    if est.lean is None:
        return None, None, None
    return tuple(v / full if v is not None and full else None for v in est.lean.central[quantity])


def uncertainty(weights: list[tuple[float, float]]) -> float:
    """``u``: the spread weighted by each job's seconds, with the model's own error (module doc)."""
    total_w = sum(w for w, _ in weights) or 1.0
    s = sum(w * sp for w, sp in weights) / total_w
    return math.sqrt(s ** 2 + MODEL_ERROR ** 2)


def mode_total(rows: list[dict], mode: str, u: float) -> dict:
    """Item ``training_<mode>``: the jobs of that mode, their seconds and joules summed, with the range."""
    sel = [r for r in rows if r["mode"] == mode]
    out = {"count": sum(r["jobs"] for r in sel)}
    for q in ("seconds", "energy_j"):
        vals = [r[q] for r in sel]
        if any(v is None for v in vals):
            out.update({q: None, f"{q}_low": None, f"{q}_high": None})
            continue
        c = sum(r[q] * r["jobs"] for r in sel)
        lo = sum(r[f"{q}_low"] * r["jobs"] for r in sel)
        hi = sum(r[f"{q}_high"] * r["jobs"] for r in sel)
        out.update({q: c, f"{q}_low": lo * (1 - u), f"{q}_high": hi * (1 + u)})
    return out


def idle_baseline_item(energy_cfg: dict, cal: Calibration, n_jobs: int, train_t: float, u: float) -> dict:
    """Item ``idle_baseline``: only where a meter can take one (GPU, or RAPL seen in the calibration's
    idle power). A GPU's idle baseline is cached per GPU UUID for energy.baseline_max_age_s
    (greenhp.energy.baseline): then one is measured at the start and one each time the cache ages
    out, not one per job."""
    gpu_run = cal.device == "cuda"
    idle_s = float(energy_cfg.get("idle_seconds") or 0.0)
    idle_w = median([m.idle_w for m in cal.models.values() if m.idle_w is not None]) \
        if any(m.idle_w is not None for m in cal.models.values()) else None
    baseline_possible = gpu_run or idle_w is not None
    max_age = float(energy_cfg.get("baseline_max_age_s") or 0.0)
    n_base = min(n_jobs, 1 + int(train_t // max_age)) if (gpu_run and max_age > 0) else n_jobs
    per = "per job" if n_base == n_jobs else f"x {n_base} (cached {max_age:g} s per GPU)"
    idle_t = idle_s * n_base if baseline_possible else 0.0
    idle_j = idle_w * idle_t if (idle_w is not None and idle_t) else (0.0 if not idle_t else None)
    return {"count": n_base if idle_t else 0, **band(idle_t, u), **band(idle_j, u, "energy_j"),
            "basis": (f"{idle_s:g} s {per} x measured idle power {idle_w:.1f} W" if idle_t and idle_w
                      else f"{idle_s:g} s {per}; idle power unknown" if idle_t
                      else "none: idle_seconds is 0 or no meter to take a baseline")}


def settle_wait_item(energy_cfg: dict, cal: Calibration, n_jobs: int, u: float, notes: list[str]) -> dict:
    """Item ``settle_wait``: the calibration's median wait per job on a GPU with a settle timeout (a
    line in ``notes`` when no calibration record measured one)."""
    gpu_run = cal.device == "cuda"
    settle_on = float(energy_cfg.get("settle_timeout_s") or 0.0) > 0
    settle = [m.settle_s for m in cal.models.values() if m.settle_s is not None]
    settle_per = median(settle) if settle else (0.0 if not (gpu_run and settle_on) else None)
    if gpu_run and settle_on and settle_per is None:
        settle_per = 0.0
        notes.append("settle wait: no calibration record measured one; counted as 0 s")
    settle_t = (settle_per or 0.0) * n_jobs if (gpu_run and settle_on) else 0.0
    return {"count": n_jobs if settle_t else 0, **band(settle_t, u), **NO_ENERGY,
            "basis": (f"{settle_per:.1f} s per job (calibration median)" if settle_t
                      else "none: no GPU or settle_timeout_s is 0")}


def job_overhead_item(cal: Calibration, n_jobs: int, u: float) -> dict:
    """Item ``job_overhead``: each training job's start-up outside its window."""
    return {"count": n_jobs, **band(cal.job_start_s * n_jobs, u), **NO_ENERGY,
            "basis": f"{cal.job_start_s:.2f} s job start-up, "
            + ("measured here" if cal.measured else "from the calibration file")}


def workflow_item(cal: Calibration, u: float) -> dict:
    """Item ``workflow``: Snakemake's start-up and its five non-training jobs'."""
    return {"count": 5, **band(cal.workflow_s, u), **NO_ENERGY,
            "basis": "Snakemake and analysis job start-ups, " + (
                "measured here (a lower bound)" if cal.measured else "from the calibration file")}


def total_item(items: dict[str, dict], n_jobs: int) -> dict:
    """Item ``total``: the sum of the :data:`~greenhp.cost.items.PARTS` (energy: the metered ones)."""
    tot: dict = {"count": n_jobs}
    for q in ("seconds", "energy_j"):
        for sfx in SUFFIXES:
            parts = [items[i].get(f"{q}{sfx}") for i in PARTS]
            tot[f"{q}{sfx}"] = sum(v for v in parts if v is not None)
    tot["basis"] = "sum of the items above (energy: training and idle baselines)"
    return tot


def wall_time_item(items: dict[str, dict], lanes: int) -> dict:
    """Item ``wall_time``: the workflow part plus the training jobs' time shared among the lanes."""
    wall = {}
    for sfx in SUFFIXES:
        jobs_t = sum(items[i][f"seconds{sfx}"] for i in JOB_ITEMS)
        wall[f"seconds{sfx}"] = items["workflow"][f"seconds{sfx}"] + jobs_t / lanes
    return {"count": lanes, **wall, **NO_ENERGY, "basis": f"{lanes} job(s) at a time"}


def device_hours(items: dict[str, dict], gpu_run: bool, job_cores: int) -> tuple[tuple[float, float, float], str]:
    """(low, central, high) device hours of the training jobs and their unit (GPU-hours, core-hours)."""
    dev_s = [sum(items[i][f"seconds{sfx}"] for i in JOB_ITEMS) for sfx in ("_low", "", "_high")]
    if gpu_run:
        return tuple(x / 3600 for x in dev_s), "GPU-hours"
    return tuple(x * job_cores / 3600 for x in dev_s), "core-hours"


def band(x: float | None, u: float, q: str = "seconds") -> dict:
    """``q``, ``q_low``, ``q_high`` of a central value ``x`` and relative uncertainty ``u``."""
    if x is None:
        return {q: None, f"{q}_low": None, f"{q}_high": None}
    return {q: x, f"{q}_low": x * (1 - u), f"{q}_high": x * (1 + u)}
