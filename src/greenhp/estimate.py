"""What a study will cost before it runs, and what it cost after.

``greenhp plan --estimate`` (:func:`estimate_study`) calibrates on this machine and predicts the
study; the workflow's ``footprint`` rule (:func:`footprint`) accounts for what the study used.

Calibration
-----------
Each subject's original is trained through the same wrapper and child process the workflow uses
(:func:`greenhp.runner.execute`, ``python -m greenhp.train``), with the study's device, data, threads,
``max_steps`` and energy settings: first for 1 epoch, then for ``k`` epochs, where ``k`` makes the
training last about as long as the start-up (``k`` = start-up seconds / seconds per epoch, at least
2, at most the original's epochs), ``repeats`` times each (default 1). Earlier run records of the same subject,
device and host are used instead when they are there (this study's ``results/runs``: only records
whose configuration is in this study with the same hyperparameters; and earlier calibrations under
``results/estimate/calibration`` made with the same settings). If the study has pairs, one pair of
originals (each for 1 epoch) is trained too, unless earlier pair records exist.

Model (one run)
---------------
From each calibration record: ``train_seconds`` (the subject's training loop, timed inside the
training process) and ``duration_s`` (the measured window, process start to exit).

- time:  ``run_s = fixed_s + epochs * epoch_s * b``, with ``epoch_s`` = median of
  ``train_seconds / epochs`` and ``fixed_s`` = median of ``duration_s - train_seconds`` (start-up,
  data loading, result writing: the same for every configuration of a subject);
- energy: ``run_j = fixed_j + epochs * epoch_j * b``. When records carry phase energies
  (``energy.phases.main.training``) those give ``epoch_j``; else a least-squares line of the
  window's total energy against ``train_seconds`` over the calibration records (its slope is the
  training power, its intercept the start-up energy), used when the records span at least 30 % in
  training time and the line is physical (slope > 0, intercept >= 0); else the mean power of the
  records (total energy / duration) times each part's seconds (``basis`` says which);
- ``b``, batch size: a configuration with another batch size than the calibration's processes the
  same samples per epoch in a different number of steps. The central value assumes time per epoch
  scales with the square root of the step count, ``b = sqrt(batch_cal / batch)``; the range spans
  the two limits, compute-bound (``b = 1``) and per-step-overhead-bound (``b = batch_cal / batch``);
- configurations without an ``epochs`` hyperparameter run as long as the calibration's original;
- pair mode: two training processes start together on one device; the job lasts
  ``time_factor * max(run_s(main), run_s(partner))`` and uses
  ``energy_factor * (run_j(main) + run_j(partner))``. Both factors are measured from pair records
  against the single-run model of the same records (median over records).

Study
-----
- jobs run one at a time per *lane*: locally every training job reserves all cores given to
  Snakemake (``train.job_threads: 0``), so there is one lane; with ``job_threads: k`` there are
  ``cores // k`` lanes, and at most one per GPU when training on GPUs;
- each job adds, outside its measured window: the job's own start-up (a Python process importing
  Snakemake's script support and the wrapper: measured here by starting such a process), the idle
  baseline (``energy.idle_seconds``, only where there is a meter to take it: a GPU or RAPL), and the
  GPU settle wait (the median of the calibration records' waits; none without a GPU);
- the study adds Snakemake's start-up and its five non-training jobs (mutants, aggregate, stats,
  plots, footprint): measured here as the start-up of those processes (a lower bound: it leaves out their
  computation);
- wall time = workflow part + (sum of job times) / lanes; device hours = sum of job times (GPU-hours
  on a GPU, else core-hours x the job's cores); kWh = (run energy + idle baseline energy) / 3.6e6;
  CO2e = kWh x ``carbon.intensity_g_per_kwh``; cost = kWh x ``carbon.price_per_kwh``
  (:func:`greenhp.units.accounting`, the one function every table and page uses).

Uncertainty
-----------
Low and high of every total: the central value x (1 -/+ u), ``u = sqrt(s^2 + MODEL_ERROR^2)``, where
``s`` is the largest relative deviation of a calibration record from the fitted model (weighted by
each subject's share of the study; repeats on a loaded machine spread widely, so does ``u``) and
``MODEL_ERROR`` the model's own error as observed in ``bench/estimate_check.py``
(``bench/RESULTS.md``); the batch-size limits above widen the range further where they apply.

A calibration can also be given as a file (``--calibration FILE``, :func:`load_calibration_file`):
measured (or published) seconds and joules of each original, for a device that is not here.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from greenhp.units import accounting, kwh

#: relative error of the model itself (beyond the calibration's spread): bench/estimate_check.py measured
#: wall-time ratios 0.83 and 1.19 and energy ratios 0.97 and 1.03 on the loaded 2-core VM (bench/RESULTS.md)
MODEL_ERROR = 0.20
#: the lowest calibration spread assumed (two records can agree by chance)
MIN_SPREAD = 0.02
#: items of a study, in the order they are printed (estimate.tsv and footprint.tsv share them)
ITEMS = ("training_single", "training_pair", "idle_baseline", "settle_wait", "job_overhead", "workflow",
         "total", "wall_time")
CALIBRATION_VERSION = 1


# ------------------------------------------------------------------------------------------------
# calibration points and the per-subject model
# ------------------------------------------------------------------------------------------------
@dataclass
class Point:
    """What one measured run says about its subject (from a run record)."""

    subject: str
    epochs: int | None
    batch_size: int | None
    duration_s: float
    train_s: float | None
    energy_j: float | None
    training_j: float | None = None  # energy of the training phase (phase marks), when recorded
    settle_s: float | None = None
    idle_w: float | None = None  # measured idle power (GPU + CPU + DRAM where measured)
    energy_estimated: bool = False
    source: str = ""


def _epochs_of(rec: dict) -> int | None:
    eff = rec.get("effective") or {}
    req = rec.get("requested") or {}
    e = eff.get("epochs", req.get("epochs"))
    return int(e) if e is not None else None


def idle_power_w(idle: dict | None) -> float | None:
    """Measured idle power of a record's baseline (sum of the domains measured), None when none was taken."""
    idle = idle or {}
    parts = [idle.get(k) for k in ("gpu_w", "cpu_w", "dram_w") if idle.get(k) is not None]
    return float(sum(parts)) if parts else None


def point_from_record(rec: dict, source: str = "") -> Point | None:
    """A calibration point from a single-mode run record with status ok, else None. The record must
    pass the run-record check (greenhp.record.check; the readers below skip those that do not):
    ValueError naming ``source`` and the field otherwise."""
    if rec.get("mode") != "single" or rec.get("status") != "ok":
        return None
    from greenhp.record import check

    problem = check(rec)
    if problem:
        raise ValueError(f"run record {source or rec.get('run_id')} {problem}")
    timing = rec.get("timing") or {}
    energy = rec.get("energy") or {}
    total = energy.get("total") or {}
    training = (((energy.get("phases") or {}).get("main") or {}).get("training") or {})
    idle = energy.get("idle") or {}
    bs = (rec.get("effective") or {}).get("batch_size", (rec.get("requested") or {}).get("batch_size"))
    return Point(
        subject=rec["subject"], epochs=_epochs_of(rec), batch_size=int(bs) if bs is not None else None,
        duration_s=float(timing["duration_s"]),
        train_s=float(timing["train_seconds"]) if timing.get("train_seconds") is not None else None,
        energy_j=float(total["energy_j"]) if total.get("energy_j") is not None else None,
        training_j=float(training["total_j"]) if training.get("total_j") is not None else None,
        settle_s=float(idle["settle_s"]) if idle.get("settle_s") is not None else None,
        idle_w=idle_power_w(idle), energy_estimated=bool(total.get("estimated")), source=source)


@dataclass
class SubjectModel:
    """``run_s = fixed_s + epochs * epoch_s`` and ``run_j = fixed_j + epochs * epoch_j`` at ``batch_size``."""

    subject: str
    fixed_s: float
    epoch_s: float
    epochs: int | None  # epochs of the subject's original (used when a configuration has none)
    batch_size: int | None
    fixed_j: float | None = None
    epoch_j: float | None = None
    energy_basis: str = "none"  # phases | fit | mean_power | given | none
    energy_estimated: bool = False
    spread: float = MIN_SPREAD  # largest relative deviation of a calibration record from the model
    n: int = 0
    settle_s: float | None = None
    idle_w: float | None = None
    basis: str = ""  # where the numbers come from, in words

    def batch_factor(self, batch_size: int | None) -> tuple[float, float, float]:
        """(central, low, high) factor on the per-epoch part for ``batch_size`` (see the module doc)."""
        if batch_size is None or self.batch_size is None or int(batch_size) == int(self.batch_size):
            return 1.0, 1.0, 1.0
        r = float(self.batch_size) / float(batch_size)
        return math.sqrt(r), min(1.0, r), max(1.0, r)

    def run(self, epochs: int | None, batch_size: int | None = None) -> dict[str, float | None]:
        """Predicted seconds and joules of one single run (central, low, high by batch size only)."""
        e = self.epochs if epochs is None else int(epochs)
        e = e if e is not None else 1
        b, b_lo, b_hi = self.batch_factor(batch_size)
        out = {f"seconds{sfx}": self.fixed_s + e * self.epoch_s * f
               for sfx, f in (("", b), ("_low", b_lo), ("_high", b_hi))}
        for sfx, f in (("", b), ("_low", b_lo), ("_high", b_hi)):
            out[f"energy_j{sfx}"] = (self.fixed_j + e * self.epoch_j * f
                                     if self.fixed_j is not None and self.epoch_j is not None else None)
        return out


def _median(xs: Iterable[float]) -> float:
    return float(statistics.median(list(xs)))


def fit_subject(points: list[Point], original_epochs: int | None = None,
                original_batch: int | None = None) -> SubjectModel:
    """The model of one subject from its calibration points (at least one, all of one subject)."""
    if not points:
        raise ValueError("fit_subject: no calibration points")
    subject = points[0].subject
    ref_bs = original_batch if original_batch is not None else points[0].batch_size

    def bfac(p: Point) -> float:  # per-epoch part of p, brought to the reference batch size
        if p.batch_size is None or ref_bs is None or p.batch_size == ref_bs:
            return 1.0
        return 1.0 / math.sqrt(float(ref_bs) / float(p.batch_size))

    timed = [p for p in points if p.train_s is not None and p.epochs]
    if timed:
        epoch_s = _median(p.train_s / p.epochs * bfac(p) for p in timed)
        fixed_s = max(0.0, _median(p.duration_s - p.train_s for p in timed))
    else:  # no training time inside the records: least squares of duration on epochs, else all per epoch
        fixed_s, epoch_s = _line([(float(p.epochs or 1), p.duration_s) for p in points])
        if fixed_s is None or epoch_s is None or epoch_s <= 0 or fixed_s < 0:
            fixed_s, epoch_s = 0.0, _median(p.duration_s / (p.epochs or 1) for p in points)

    fixed_j = epoch_j = None
    basis = "none"
    with_e = [p for p in points if p.energy_j is not None]
    phased = [p for p in with_e if p.training_j is not None and p.epochs]
    if phased:
        epoch_j = _median(p.training_j / p.epochs * bfac(p) for p in phased)
        fixed_j = max(0.0, _median(p.energy_j - p.training_j for p in phased))
        basis = "phases"
    elif with_e:
        fit_pts = [(p.train_s, p.energy_j) for p in with_e if p.train_s is not None]
        a = b = None
        if len(fit_pts) >= 2:
            ts = [t for t, _ in fit_pts]
            if max(ts) > 0 and (max(ts) - min(ts)) / max(ts) >= 0.3:
                a, b = _line(fit_pts)
        if a is not None and b is not None and b > 0 and a >= 0:
            fixed_j, epoch_j, basis = a, b * epoch_s, "fit"
        else:
            power = sum(p.energy_j for p in with_e) / sum(p.duration_s for p in with_e)
            fixed_j, epoch_j, basis = power * fixed_s, power * epoch_s, "mean_power"
    model = SubjectModel(
        subject=subject, fixed_s=fixed_s, epoch_s=epoch_s,
        epochs=original_epochs if original_epochs is not None else (points[0].epochs or None),
        batch_size=ref_bs, fixed_j=fixed_j, epoch_j=epoch_j, energy_basis=basis,
        energy_estimated=any(p.energy_estimated for p in with_e), n=len(points),
        settle_s=_median(p.settle_s for p in points if p.settle_s is not None)
        if any(p.settle_s is not None for p in points) else None,
        idle_w=_median(p.idle_w for p in points if p.idle_w is not None)
        if any(p.idle_w is not None for p in points) else None)
    devs = []
    for p in points:
        pred = model.run(p.epochs, p.batch_size)
        devs.append(abs(p.duration_s - pred["seconds"]) / pred["seconds"] if pred["seconds"] > 0 else 0.0)
        if p.energy_j is not None and pred["energy_j"]:
            devs.append(abs(p.energy_j - pred["energy_j"]) / pred["energy_j"])
    model.spread = max([MIN_SPREAD] + devs)
    return model


def _line(xy: list[tuple[float, float]]) -> tuple[float | None, float | None]:
    """Least-squares intercept and slope of y on x; (None, None) when x does not vary."""
    if len(xy) < 2:
        return None, None
    mx = sum(x for x, _ in xy) / len(xy)
    my = sum(y for _, y in xy) / len(xy)
    sxx = sum((x - mx) ** 2 for x, _ in xy)
    if sxx <= 0:
        return None, None
    slope = sum((x - mx) * (y - my) for x, y in xy) / sxx
    return my - slope * mx, slope


@dataclass
class PairFactor:
    time: float = 1.0
    energy: float = 1.0
    spread: float = MIN_SPREAD
    n: int = 0
    basis: str = "none"


def fit_pair(pairs: list[dict], models: dict[str, SubjectModel]) -> PairFactor | None:
    """Pair factors from pair-mode records (ok, both members ok) against the single-run models."""
    t, e = [], []
    for rec in pairs:
        if rec.get("mode") != "pair" or rec.get("status") != "ok":
            continue
        partner = rec.get("partner") or {}
        pres = rec.get("partner_result") or {}
        if pres.get("status") not in (None, "ok"):
            continue
        ms, ps = models.get(rec["subject"]), models.get(partner.get("subject"))
        if ms is None or ps is None:
            continue
        pe = (pres.get("effective") or {}).get("epochs")
        m = ms.run(_epochs_of(rec), (rec.get("requested") or {}).get("batch_size"))
        p = ps.run(int(pe) if pe is not None else None, (pres.get("effective") or {}).get("batch_size"))
        t.append(float(rec["timing"]["duration_s"]) / max(m["seconds"], p["seconds"]))
        tot = ((rec.get("energy") or {}).get("total") or {}).get("energy_j")
        if tot is not None and m["energy_j"] and p["energy_j"]:
            e.append(float(tot) / (m["energy_j"] + p["energy_j"]))
    if not t:
        return None
    ft, fe = _median(t), (_median(e) if e else 1.0)
    devs = [abs(x - ft) / ft for x in t] + [abs(x - fe) / fe for x in e]
    return PairFactor(time=ft, energy=fe, spread=max([MIN_SPREAD] + devs), n=len(t),
                      basis=f"{len(t)} pair record(s)")


# ------------------------------------------------------------------------------------------------
# measuring calibration runs and overheads on this machine
# ------------------------------------------------------------------------------------------------
@dataclass
class Calibration:
    models: dict[str, SubjectModel]
    pair: PairFactor | None = None
    job_start_s: float = 0.0  # a training job's process start-up, outside its measured window
    workflow_s: float = 0.0  # Snakemake's start-up and its non-training jobs' start-ups
    device: str = "cpu"
    where: str = ""  # the machine (or the source of a given calibration), in words
    notes: list[str] = field(default_factory=list)
    measured: bool = True  # False: read from a calibration file


def resolved_device(config: dict) -> str:
    from greenhp.study import detect_gpus

    dev = config.get("device", "auto")
    if dev == "auto":
        return "cuda" if detect_gpus() > 0 else "cpu"
    return dev


def calibration_settings(config: dict, subject: str, device: str, threads: int) -> dict:
    """What a calibration run's time depends on besides its hyperparameters (its reuse key)."""
    sconf = config["subjects"].get(subject) or {}
    return {"version": CALIBRATION_VERSION, "subject": subject, "module": sconf.get("module"),
            "defaults": sconf.get("defaults"), "device": device, "threads": threads,
            "data": config.get("data") or {}, "max_steps": (config.get("train") or {}).get("max_steps"),
            "energy": config.get("energy") or {}, "host": platform.node()}


def settings_key(settings: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _same_machine(rec: dict, device: str) -> bool:
    env = rec.get("environment") or {}
    if rec.get("device") != device or env.get("hostname") not in (None, platform.node()):
        return False
    return True


def study_records(runs_dir: str | Path, study, device: str,
                  log: Callable[[str], None] = lambda s: None) -> tuple[list[Path], list[Path]]:
    """Earlier records of this study here: (single, pair) paths whose configuration is in the study
    with the same hyperparameters, on the same device and host. A record that fails the run-record
    check (greenhp.record.read_record) is skipped with a line to ``log`` naming the file and field."""
    from greenhp.record import read_record

    singles, pairs = [], []
    root = Path(runs_dir)
    for mode, out in (("single", singles), ("pair", pairs)):
        for path in sorted((root / mode).glob("**/rep*.json")) if (root / mode).is_dir() else []:
            rec, problem = read_record(path)
            if problem:
                log(f"calibration: run record {path} {problem}: not used")
                continue
            m = study.by_id.get(rec.get("mutant_id"))
            if m is None or rec.get("requested") != m.hp or not _same_machine(rec, device):
                continue
            if mode == "pair":
                partner = study.by_id.get((rec.get("partner") or {}).get("mutant_id"))
                if partner is None:
                    continue
            out.append(path)
    return singles, pairs


def _load(paths: Iterable[Path], log: Callable[[str], None] = lambda s: None) -> list[tuple[Path, dict]]:
    """The run records at ``paths`` that pass the run-record check; each other one is skipped with a
    line to ``log`` naming the file and field."""
    from greenhp.record import read_record

    out = []
    for p in paths:
        rec, problem = read_record(p)
        if problem:
            log(f"calibration: run record {p} {problem}: not used")
            continue
        out.append((p, rec))
    return out


def time_process(code: str, repeats: int = 1) -> float:
    """Median wall seconds of ``python -c code`` (a process start-up measured on this machine)."""
    times = []
    env = dict(os.environ)
    for _ in range(repeats):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        times.append(time.monotonic() - t0)
    return _median(times)


def measure_overheads() -> tuple[float, float]:
    """(seconds a training job spends starting before its window, seconds of the workflow's own
    start-ups), measured by starting the same processes here."""
    job = time_process("import snakemake.script, greenhp.runner")
    snake = time_process("import snakemake.cli, greenhp.study")
    analysis = time_process("import snakemake.script, greenhp.analysis, greenhp.analysis.plots, "
                            "greenhp.analysis.summary")
    return job, snake + 5 * analysis  # Snakemake itself + mutants, aggregate, stats, plots, footprint


def calibrate(config: dict, study, *, cores: int = 1, runs_dir: str | Path = "results/runs",
              calib_dir: str | Path = "results/estimate/calibration", repeats: int = 1,
              reuse: bool = True, log: Callable[[str], None] = lambda s: None,
              execute: Callable | None = None, overheads: Callable[[], tuple[float, float]] = measure_overheads
              ) -> Calibration:
    """Measure (or reuse) each subject's calibration runs and the pair factor; fit the models.

    ``execute`` (default :func:`greenhp.runner.execute`) trains one RunSpec and returns its record.
    """
    from greenhp.mutation import Mutant
    from greenhp.runner import RunSpec, torch_threads

    if execute is None:
        from greenhp.runner import execute
    from greenhp.study import subject_defaults

    device = resolved_device(config)
    train = config.get("train") or {}
    job_cores = int(train.get("job_threads") or 0) or int(cores)
    defaults = subject_defaults(config)
    modules = {n: s["module"] for n, s in config["subjects"].items() if s and s.get("module")}
    notes: list[str] = []
    singles, pairs = study_records(runs_dir, study, device, log) if reuse else ([], [])
    by_subject: dict[str, list[tuple[Path, dict]]] = {}
    for path, rec in _load(singles, log):
        by_subject.setdefault(rec["subject"], []).append((path, rec))

    def run_one(subject: str, hp: dict, out: Path, mode: str = "single", partner: tuple | None = None) -> dict:
        threads = torch_threads({"torch_threads": train.get("torch_threads"), "mode": mode}, job_cores)
        mut = Mutant(f"{subject}__original", subject, "none", "none", None, None, dict(hp))
        pmut = (Mutant(f"{partner[0]}__original", partner[0], "none", "none", None, None, dict(partner[1]))
                if partner else None)
        spec = RunSpec(mode=mode, mutant=mut, partner=pmut, repetition=1, seed=int(config["seed"]) + 1,
                       device=config.get("device", "auto"), threads=threads, data=config.get("data") or {},
                       max_steps=train.get("max_steps"), timeout_s=train.get("timeout_s"),
                       energy=config.get("energy") or {},
                       carbon_g_per_kwh=(config.get("carbon") or {}).get("intensity_g_per_kwh"),
                       modules=modules)
        logs = {"main": str(out.with_suffix(".log"))}
        if partner:
            logs["partner"] = str(out.with_suffix(".partner.log"))
        out.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        rec = execute(spec, out, logs)
        log(f"calibration: {out.parent.name}/{out.name}: {rec.get('status')} in {time.monotonic() - t0:.1f} s")
        if rec.get("status") != "ok":
            raise RuntimeError(f"calibration run of {subject} ({out}) ended {rec.get('status')}: {rec.get('reason')}")
        return rec

    models: dict[str, SubjectModel] = {}
    for subject, hp in defaults.items():
        threads = torch_threads({"torch_threads": train.get("torch_threads"), "mode": "single"}, job_cores)
        key_dir = Path(calib_dir) / settings_key(calibration_settings(config, subject, device, threads)) / subject
        own = _load(sorted(key_dir.glob("*.json")), log) if reuse and key_dir.is_dir() else []
        recs = by_subject.get(subject, []) + own
        pts = [pt for p, r in recs if (pt := point_from_record(r, str(p))) is not None]
        source = f"{len(pts)} earlier record(s)" if pts else ""
        if len({p.epochs for p in pts if p.train_s}) < 1 or len(pts) < 2:
            # measure: 1 epoch, then k epochs (training about as long as start-up), `repeats` times
            if not (key_dir / "settings.json").exists():
                key_dir.mkdir(parents=True, exist_ok=True)
                (key_dir / "settings.json").write_text(json.dumps(
                    calibration_settings(config, subject, device, threads), indent=1, default=str))
            has_epochs = "epochs" in hp
            first = dict(hp, epochs=1) if has_epochs else dict(hp)
            new = []
            for i in range(1, repeats + 1):
                new.append(run_one(subject, first, key_dir / f"e{first.get('epochs', 0)}_r{i}.json"))
                if has_epochs and i == 1:
                    p1 = point_from_record(new[0])
                    per = (p1.train_s or p1.duration_s) / max(1, p1.epochs or 1)
                    fixed = max(0.0, p1.duration_s - (p1.train_s or 0.0))
                    k = int(min(int(hp["epochs"]), max(2, math.ceil(fixed / per) if per > 0 else 2)))
                    k = max(1, min(k, int(hp["epochs"])))
                if has_epochs and k != 1:
                    new.append(run_one(subject, dict(hp, epochs=k), key_dir / f"e{k}_r{i}.json"))
            pts += [point_from_record(r, "calibration") for r in new]
            source = (f"{len(new)} calibration run(s) here" + (f" + {source}" if source else ""))
        models[subject] = fit_subject([p for p in pts if p is not None], hp.get("epochs"), hp.get("batch_size"))
        models[subject].basis = source

    pair = None
    pair_links = [(s, p) for s in defaults for p in study.partners_of(s)]
    if pair_links:
        pair = fit_pair([r for _, r in _load(pairs, log)], models)
        if pair is None:
            s, p = pair_links[0]
            threads = torch_threads({"torch_threads": train.get("torch_threads"), "mode": "pair"}, job_cores)
            key_dir = Path(calib_dir) / settings_key(calibration_settings(config, s, device, threads)) / f"pair__{p}"
            own = _load(sorted(key_dir.glob("*.json")), log) if reuse and key_dir.is_dir() else []
            pair = fit_pair([r for _, r in own], models)
            if pair is None:
                hs, hpp = defaults[s], defaults[p]
                hs1 = dict(hs, epochs=1) if "epochs" in hs else dict(hs)
                hp1 = dict(hpp, epochs=1) if "epochs" in hpp else dict(hpp)
                rec = run_one(s, hs1, key_dir / "pair_r1.json", mode="pair", partner=(p, hp1))
                pair = fit_pair([rec], models)
                if pair is not None:
                    pair.basis = "1 calibration pair run here"
            else:
                pair.basis = f"{pair.n} earlier calibration pair run(s)"
        else:
            pair.basis = f"{pair.n} earlier pair record(s) of this study"
    job_s, wf_s = overheads()
    where = f"{platform.node()} ({os.cpu_count()} CPUs, device {device})"
    return Calibration(models=models, pair=pair, job_start_s=job_s, workflow_s=wf_s, device=device,
                       where=where, notes=notes)


class CalibrationError(ValueError):
    """A calibration file that cannot be used; the message is one line naming the file, the subject
    (where the problem is in one) and the field."""


def _non_finite(node, path: tuple = ()) -> tuple[tuple, float] | None:
    """The path and value of the first NaN or infinite number in a YAML document, else None."""
    if isinstance(node, float) and not math.isfinite(node):
        return path, node
    if isinstance(node, dict):
        for k, v in node.items():
            if (found := _non_finite(v, path + (k,))) is not None:
                return found
    if isinstance(node, list):
        for i, v in enumerate(node):
            if (found := _non_finite(v, path + (i,))) is not None:
                return found
    return None


def _where_in_calibration(path: str | Path, parts) -> str:
    """``calibration file F: subject S: field`` (or ``calibration file F: field``) for a field's path."""
    parts = [str(p) for p in parts]
    if len(parts) >= 2 and parts[0] == "subjects":
        return f"calibration file {path}: subject {parts[1]!r}" + (f": {'.'.join(parts[2:])}" if parts[2:] else "")
    return f"calibration file {path}" + (f": {'.'.join(parts)}" if parts else "")


def read_calibration_file(path: str | Path) -> dict:
    """A calibration file, checked like a config file (``schemas/calibration.schema.yaml``): a key
    written twice, an unknown key, a wrong type, a number out of its range, NaN or infinity each raise a
    :class:`CalibrationError` of one line naming the file, the subject and the field."""
    import yaml

    from greenhp.checks import schema_message
    from greenhp.study import SCHEMA_DIR, StudyError, _DuplicateKey, _strict_loader, read_text_file

    try:
        text = read_text_file(path, "calibration file")
    except StudyError as err:
        raise CalibrationError(str(err)) from None
    try:
        data = yaml.load(text, Loader=_strict_loader())  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as err:
        raise CalibrationError(f"calibration file {path}, {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise CalibrationError(f"calibration file {path}{where}: not valid YAML: {' '.join(str(problem).split())}") from None
    if not isinstance(data, dict):
        raise CalibrationError(f"calibration file {path}: must be a mapping of keys to values (where, device, "
                               f"subjects, pair, ...), not {type(data).__name__}")
    found = _non_finite(data)
    if found is not None:
        raise CalibrationError(f"{_where_in_calibration(path, found[0])}: {found[1]!r} is not a finite number")
    import jsonschema

    schema = yaml.safe_load((SCHEMA_DIR / "calibration.schema.yaml").read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data),
                    key=lambda e: (len(e.absolute_path), e.validator != "required"))
    if errors:
        err = errors[-1]  # the deepest (an unknown key before a missing one): it names the field
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            tail = f"{missing}: missing; this key is required"
        else:  # schema_message's line is "<field path>: <what is wrong>; allowed: ..."
            tail = schema_message(err).split(": ", 1)[-1]
        raise CalibrationError(f"{_where_in_calibration(path, list(err.absolute_path))}: {tail}")
    return data


def load_calibration_file(path: str | Path, config: dict) -> Calibration:
    """A calibration given as a file: each original's measured (or published) seconds and joules.

    YAML (checked by :func:`read_calibration_file` against ``schemas/calibration.schema.yaml``):
    ``where`` (text), ``device`` (cuda or cpu), ``subjects: {name: {epochs, seconds, energy_j?,
    fixed_s?, batch_size?, settle_s?, idle_w?, spread?, source?}}``, ``pair: {time_factor,
    energy_factor, spread?, source?}``, ``job_start_s``, ``workflow_s``, ``spread`` (relative);
    ``fixed_s``, ``settle_s`` and ``idle_w`` may also be given once for all subjects. Without
    ``fixed_s`` all of a run's time and energy is taken as proportional to its epochs (no start-up
    part); a ``fixed_s`` that is not less than the subject's ``seconds`` is rejected. Every problem is
    a :class:`CalibrationError` of one line naming the file, the subject and the field.
    """
    from greenhp.study import subject_defaults

    data = read_calibration_file(path)
    device = str(data.get("device", "cuda"))
    wanted = config.get("device", "auto")
    if wanted in ("cuda", "cpu") and device != wanted:
        raise CalibrationError(f"calibration file {path}: device: {device!r} is not the study's device "
                               f"{wanted!r}; give a calibration measured on a {wanted} device")
    defaults = subject_defaults(config)
    spread = float(data.get("spread", MIN_SPREAD))
    models = {}
    for name, hp in defaults.items():
        s = (data.get("subjects") or {}).get(name)
        if s is None:
            raise CalibrationError(f"calibration file {path}: subjects: no entry for subject {name!r} of the study "
                                   f"(it has: {', '.join(map(str, data['subjects'])) or 'none'})")
        epochs = int(s.get("epochs", hp.get("epochs", 1)))
        seconds = float(s["seconds"])
        fixed = float(s.get("fixed_s", data.get("fixed_s", 0.0)))
        if fixed >= seconds:
            field_name = "fixed_s" if "fixed_s" in s else "fixed_s (given once for all subjects)"
            raise CalibrationError(f"calibration file {path}: subject {name!r}: {field_name}: {fixed:g} s of start-up "
                                   f"is not less than the subject's whole run (seconds: {seconds:g}); nothing "
                                   "would be left to scale with the epochs")
        energy = s.get("energy_j")
        frac = fixed / seconds
        batch = s.get("batch_size", hp.get("batch_size"))
        models[name] = SubjectModel(
            subject=name, fixed_s=fixed, epoch_s=(seconds - fixed) / epochs, epochs=hp.get("epochs"),
            batch_size=int(batch) if batch else None,
            fixed_j=float(energy) * frac if energy is not None else None,
            epoch_j=float(energy) * (1 - frac) / epochs if energy is not None else None,
            energy_basis="given", spread=float(s.get("spread", spread)), n=1,
            settle_s=s.get("settle_s", data.get("settle_s")), idle_w=s.get("idle_w", data.get("idle_w")),
            basis=str(s.get("source", data.get("where", path))))
    pair = None
    if data.get("pair"):
        p = data["pair"]
        pair = PairFactor(time=float(p["time_factor"]), energy=float(p["energy_factor"]),
                          spread=float(p.get("spread", spread)), n=0, basis=str(p.get("source", path)))
    return Calibration(models=models, pair=pair, job_start_s=float(data.get("job_start_s", 0.0)),
                       workflow_s=float(data.get("workflow_s", 0.0)), device=device,
                       where=str(data.get("where", path)), measured=False)


# ------------------------------------------------------------------------------------------------
# prediction
# ------------------------------------------------------------------------------------------------
@dataclass
class Estimate:
    configurations: list[dict]  # one row per configuration and mode (per job)
    items: dict[str, dict]  # study totals by item (ITEMS)
    lanes: int
    device: str
    device_hours: tuple[float, float, float]  # low, central, high
    device_hours_unit: str  # GPU-hours | core-hours
    carbon: dict
    where: str
    notes: list[str]


def lanes_for(config: dict, cores: int, gpus: int, device: str) -> int:
    """Training jobs that run at once (see the module doc)."""
    jt = int((config.get("train") or {}).get("job_threads") or 0)
    lanes = max(1, cores // jt) if jt > 0 else 1
    if device == "cuda":
        lanes = min(lanes, max(1, gpus))
    return lanes


def predict(config: dict, study, cal: Calibration, cores: int = 1, gpus: int = 0) -> Estimate:
    """The study's predicted cost from a calibration (pure arithmetic; see the module doc)."""
    energy_cfg = config.get("energy") or {}
    idle_s = float(energy_cfg.get("idle_seconds") or 0.0)
    settle_on = float(energy_cfg.get("settle_timeout_s") or 0.0) > 0
    gpu_run = cal.device == "cuda"
    notes = list(cal.notes)
    rows: list[dict] = []
    reps = study.repetitions

    def single(m) -> dict:
        model = cal.models[m.subject]
        return model.run(m.hp.get("epochs"), m.hp.get("batch_size"))

    per_subject_spread = {s: m.spread for s, m in cal.models.items()}
    weights: list[tuple[float, float]] = []  # (seconds, spread)
    for m in study.mutants:
        r = single(m)
        rows.append({"mode": "single", "mutant_id": m.mutant_id, "subject": m.subject, "partner": "",
                     "epochs": m.hp.get("epochs"), "batch_size": m.hp.get("batch_size"), "jobs": reps, **r})
        weights.append((r["seconds"] * reps, per_subject_spread[m.subject]))
    pair = cal.pair
    for m in study.mutants:
        for ps in study.partners_of(m.subject):
            partner = study.by_id[f"{ps}__original"]
            a, b = single(m), single(partner)
            if pair is None:
                raise ValueError("the study has pair runs but the calibration has no pair factor")
            r = {}
            for sfx in ("", "_low", "_high"):
                r[f"seconds{sfx}"] = pair.time * max(a[f"seconds{sfx}"], b[f"seconds{sfx}"])
                ea, eb = a[f"energy_j{sfx}"], b[f"energy_j{sfx}"]
                r[f"energy_j{sfx}"] = pair.energy * (ea + eb) if ea is not None and eb is not None else None
            rows.append({"mode": "pair", "mutant_id": m.mutant_id, "subject": m.subject,
                         "partner": partner.mutant_id, "epochs": m.hp.get("epochs"),
                         "batch_size": m.hp.get("batch_size"), "jobs": reps, **r})
            sp = max(per_subject_spread[m.subject], per_subject_spread[ps])
            weights.append((r["seconds"] * reps, math.sqrt(sp ** 2 + pair.spread ** 2)))
    total_w = sum(w for w, _ in weights) or 1.0
    s = sum(w * sp for w, sp in weights) / total_w
    u = math.sqrt(s ** 2 + MODEL_ERROR ** 2)

    def total(mode: str) -> dict:
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

    items: dict[str, dict] = {"training_single": {**total("single"), "basis": "model x calibration"},
                              "training_pair": {**total("pair"), "basis": "model x calibration x pair factor"}}
    n_jobs = items["training_single"]["count"] + items["training_pair"]["count"]
    # idle baseline: only where a meter can take one (GPU, or RAPL seen in the calibration's idle power)
    idle_w = _median([m.idle_w for m in cal.models.values() if m.idle_w is not None]) \
        if any(m.idle_w is not None for m in cal.models.values()) else None
    baseline_possible = gpu_run or idle_w is not None
    # A GPU's idle baseline is cached per GPU UUID for energy.baseline_max_age_s (greenhp.energy.baseline):
    # then one is measured at the start and one each time the cache ages out, not one per job.
    max_age = float(energy_cfg.get("baseline_max_age_s") or 0.0)
    train_t = items["training_single"]["seconds"] + items["training_pair"]["seconds"]
    n_base = min(n_jobs, 1 + int(train_t // max_age)) if (gpu_run and max_age > 0) else n_jobs
    per = "per job" if n_base == n_jobs else f"x {n_base} (cached {max_age:g} s per GPU)"
    idle_t = idle_s * n_base if baseline_possible else 0.0
    idle_j = idle_w * idle_t if (idle_w is not None and idle_t) else (0.0 if not idle_t else None)
    items["idle_baseline"] = {"count": n_base if idle_t else 0, **_band(idle_t, u), **_band(idle_j, u, "energy_j"),
                              "basis": (f"{idle_s:g} s {per} x measured idle power {idle_w:.1f} W" if idle_t and idle_w
                                        else f"{idle_s:g} s {per}; idle power unknown" if idle_t
                                        else "none: idle_seconds is 0 or no meter to take a baseline")}
    settle = [m.settle_s for m in cal.models.values() if m.settle_s is not None]
    settle_per = _median(settle) if settle else (0.0 if not (gpu_run and settle_on) else None)
    if gpu_run and settle_on and settle_per is None:
        settle_per = 0.0
        notes.append("settle wait: no calibration record measured one; counted as 0 s")
    settle_t = (settle_per or 0.0) * n_jobs if (gpu_run and settle_on) else 0.0
    items["settle_wait"] = {"count": n_jobs if settle_t else 0, **_band(settle_t, u),
                            "energy_j": None, "energy_j_low": None, "energy_j_high": None,
                            "basis": (f"{settle_per:.1f} s per job (calibration median)" if settle_t
                                      else "none: no GPU or settle_timeout_s is 0")}
    job_t = cal.job_start_s * n_jobs
    items["job_overhead"] = {"count": n_jobs, **_band(job_t, u), "energy_j": None, "energy_j_low": None,
                             "energy_j_high": None, "basis": f"{cal.job_start_s:.2f} s job start-up, "
                             + ("measured here" if cal.measured else "from the calibration file")}
    items["workflow"] = {"count": 5, **_band(cal.workflow_s, u), "energy_j": None, "energy_j_low": None,
                         "energy_j_high": None,
                         "basis": "Snakemake and analysis job start-ups, " + (
                             "measured here (a lower bound)" if cal.measured else "from the calibration file")}
    tot = {"count": n_jobs}
    for q in ("seconds", "energy_j"):
        for sfx in ("", "_low", "_high"):
            parts = [items[i].get(f"{q}{sfx}") for i in ITEMS[:6]]
            tot[f"{q}{sfx}"] = sum(v for v in parts if v is not None)
    tot["basis"] = "sum of the items above (energy: training and idle baselines)"
    items["total"] = tot
    lanes = lanes_for(config, cores, gpus, cal.device)
    wall = {}
    for sfx in ("", "_low", "_high"):
        jobs_t = sum(items[i][f"seconds{sfx}"] for i in ("training_single", "training_pair", "idle_baseline",
                                                           "settle_wait", "job_overhead"))
        wall[f"seconds{sfx}"] = items["workflow"][f"seconds{sfx}"] + jobs_t / lanes
    items["wall_time"] = {"count": lanes, **wall, "energy_j": None, "energy_j_low": None, "energy_j_high": None,
                          "basis": f"{lanes} job(s) at a time"}
    job_cores = int((config.get("train") or {}).get("job_threads") or 0) or int(cores)
    dev_s = [sum(items[i][f"seconds{sfx}"] for i in ("training_single", "training_pair", "idle_baseline",
                                                     "settle_wait", "job_overhead")) for sfx in ("_low", "", "_high")]
    if gpu_run:
        dh, unit = tuple(x / 3600 for x in dev_s), "GPU-hours"
    else:
        dh, unit = tuple(x * job_cores / 3600 for x in dev_s), "core-hours"
    carbon = config.get("carbon") or {}
    return Estimate(configurations=rows, items=items, lanes=lanes, device=cal.device, device_hours=dh,
                    device_hours_unit=unit, carbon={"intensity_g_per_kwh": carbon.get("intensity_g_per_kwh"),
                                                    "price_per_kwh": carbon.get("price_per_kwh")},
                    where=cal.where, notes=notes)


def _band(x: float | None, u: float, q: str = "seconds") -> dict:
    """``q``, ``q_low``, ``q_high`` of a central value ``x`` and relative uncertainty ``u``."""
    if x is None:
        return {q: None, f"{q}_low": None, f"{q}_high": None}
    return {q: x, f"{q}_low": x * (1 - u), f"{q}_high": x * (1 + u)}


# ------------------------------------------------------------------------------------------------
# output: the printed table and estimate.tsv
# ------------------------------------------------------------------------------------------------
EST_COLUMNS = ["scope", "item", "mode", "subject", "partner", "epochs", "batch_size", "count",
               "seconds", "seconds_low", "seconds_high", "energy_j", "energy_j_low", "energy_j_high",
               "kwh", "co2e_g", "cost", "basis"]


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def estimate_rows(est: Estimate) -> list[dict]:
    """estimate.tsv's rows: one per configuration and mode (per job), then the study's items."""
    rows = []
    for r in est.configurations:
        rows.append({"scope": "configuration", "item": r["mutant_id"], **{k: r.get(k) for k in (
            "mode", "subject", "partner", "epochs", "batch_size")}, "count": r["jobs"],
            **{k: r.get(k) for k in ("seconds", "seconds_low", "seconds_high", "energy_j", "energy_j_low",
                                     "energy_j_high")}, "basis": "per job"})
    for name in ITEMS:
        it = est.items[name]
        rows.append({"scope": "study", "item": name, "count": it.get("count"),
                     **{k: it.get(k) for k in ("seconds", "seconds_low", "seconds_high", "energy_j",
                                               "energy_j_low", "energy_j_high")},
                     **accounting(it.get("energy_j"), est.carbon), "basis": it.get("basis", "")})
    lo, c, hi = est.device_hours
    rows.append({"scope": "study", "item": "device_hours", "count": est.lanes, "seconds": c * 3600,
                 "seconds_low": lo * 3600, "seconds_high": hi * 3600,
                 "basis": f"{est.device_hours_unit} on {est.device}; calibrated on {est.where}"})
    return rows


def write_estimate_tsv(est: Estimate, path: str | Path) -> Path:
    from greenhp.atomic import write_text

    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(EST_COLUMNS)
    for r in estimate_rows(est):
        w.writerow([_cell(r.get(c)) for c in EST_COLUMNS])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, buf.getvalue())
    return path


def read_estimate_tsv(path: str | Path) -> dict[str, dict]:
    """The study rows of an estimate.tsv, by item, numbers as floats (None where empty)."""
    out = {}
    with open(path) as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            if r.get("scope") != "study":
                continue
            out[r["item"]] = {k: (float(v) if v not in ("", None) and k not in ("scope", "item", "basis") else
                                  (v if k in ("scope", "item", "basis") else None)) for k, v in r.items()}
    return out


def _hms(s: float | None) -> str:
    if s is None:
        return "n/a"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _j(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{kwh(x):.3g} kWh" if x >= 3.6e5 else f"{x / 1000:.3g} kJ" if x >= 1000 else f"{x:.3g} J"


def format_estimate(est: Estimate) -> str:
    """The short table ``greenhp plan --estimate`` prints."""
    it = est.items
    lines = [f"estimate (calibrated on {est.where}; {est.lanes} training job(s) at a time)"]
    w = max(len(n) for n in ITEMS)
    lines.append(f"{'item':<{w}}  {'jobs':>5}  {'time':>22}  {'energy':>28}  basis")
    for name in ITEMS:
        r = it[name]
        t = f"{_hms(r['seconds'])} [{_hms(r['seconds_low'])}-{_hms(r['seconds_high'])}]" if r.get("seconds") else "-"
        e = (f"{_j(r['energy_j'])} [{_j(r['energy_j_low'])}-{_j(r['energy_j_high'])}]"
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
    lines.append(f"wall time for the study: {_hms(it['wall_time']['seconds'])} "
                 f"[{_hms(it['wall_time']['seconds_low'])}-{_hms(it['wall_time']['seconds_high'])}]")
    lines += [f"note: {n}" for n in est.notes]
    return "\n".join(lines)


def format_calibration(cal: Calibration) -> str:
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


def estimate_study(config: dict, study, *, cores: int, gpus: int | None = None, calibration: str | None = None,
                   repeats: int = 1, reuse: bool = True, runs_dir: str | Path = "results/runs",
                   calib_dir: str | Path = "results/estimate/calibration",
                   log: Callable[[str], None] = lambda s: None) -> tuple[Estimate, Calibration]:
    """Calibrate (or read a calibration file) and predict ``study``."""
    from greenhp.study import detect_gpus

    if calibration:
        cal = load_calibration_file(calibration, config)
    else:
        cal = calibrate(config, study, cores=cores, runs_dir=runs_dir, calib_dir=calib_dir, repeats=repeats,
                        reuse=reuse, log=log)
    if gpus is None:
        gpus = detect_gpus() if cal.device == "cuda" and not calibration else (1 if cal.device == "cuda" else 0)
    return predict(config, study, cal, cores=cores, gpus=gpus), cal


# ------------------------------------------------------------------------------------------------
# footprint: what the study used
# ------------------------------------------------------------------------------------------------
FOOT_COLUMNS = ["item", "count", "status", "seconds", "energy_j", "energy_method", "kwh", "co2e_g", "cost",
                "estimated_seconds", "estimated_seconds_low", "estimated_seconds_high",
                "estimated_energy_j", "estimated_energy_j_low", "estimated_energy_j_high",
                "seconds_vs_estimate", "seconds_in_estimate_range", "energy_vs_estimate",
                "energy_in_estimate_range", "note"]
#: items of footprint.tsv computed from the run records alone (not from Snakemake's job times); the
#: summary page, written before the footprint job, shows these and the total's energy, no more
RECORD_ITEMS = ("training_single", "training_pair", "idle_baseline", "settle_wait")


def snakemake_jobs(metadata_dir: str | Path) -> dict[str, dict]:
    """Snakemake's record of each output file (rule, starttime, endtime), by output path.

    Read from ``.snakemake/metadata`` (one JSON file per output, named by its URL-safe base64 path;
    long names split into folders whose names start with ``@``). Empty when there is none."""
    root = Path(metadata_dir)
    out: dict[str, dict] = {}
    if not root.is_dir():
        return out
    for dirpath, _, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            rel = full.relative_to(root).parts
            try:
                b64 = "".join(p[1:] if p.startswith("@") else p for p in rel)
                key = base64.urlsafe_b64decode(b64.encode()).decode()
                rec = json.loads(full.read_text())
            except (ValueError, OSError, UnicodeDecodeError):
                continue
            if isinstance(rec, dict) and rec.get("starttime") is not None and rec.get("endtime") is not None:
                out[key] = rec
    return out


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
    """The study's own footprint, one row per item (FOOT_COLUMNS).

    ``records``: every run record (ok or not); ``carbon``: the study's current ``carbon`` settings
    (kWh, CO2e and cost of every row: :func:`greenhp.units.accounting`; the intensity a record
    stored at training time is not used); ``jobs``: :func:`snakemake_jobs` (job times, when known);
    ``estimate``: :func:`read_estimate_tsv` (when one was made). Energies of the training
    items are the sums of the records' whole-window totals (a run without a total is counted and
    named in ``note``); idle baselines are each record's measured idle power x its idle window;
    settle waits are times (their energy is not metered). The wall time is the union of the jobs'
    intervals (:func:`union_seconds`). Each row with an estimate has its ratio and range verdict
    (:func:`versus_estimate`)."""
    jobs = jobs or {}
    rows: list[dict] = []
    for mode in ("single", "pair"):
        recs = [r for r in records if r.get("mode") == mode]
        status: dict[str, int] = {}
        for r in recs:
            status[r.get("status", "?")] = status.get(r.get("status", "?"), 0) + 1
        energies = [((r.get("energy") or {}).get("total") or {}).get("energy_j") for r in recs]
        missing = sum(e is None for e in energies)
        methods = sorted({f"{d}:{(r.get('energy') or {}).get(d, {}).get('method')}" for r in recs
                          for d in ("gpu", "cpu", "dram")
                          if ((r.get("energy") or {}).get(d) or {}).get("energy_j") is not None})
        rows.append({"item": f"training_{mode}", "count": len(recs),
                     "status": ", ".join(f"{k} {v}" for k, v in sorted(status.items())),
                     "seconds": sum(float(r["timing"]["duration_s"]) for r in recs),
                     "energy_j": sum(e for e in energies if e is not None) if len(recs) > missing else None,
                     "energy_method": "+".join(methods) or ("none measured" if recs else ""),
                     "note": (f"{missing} run(s) without a total energy are not in the sum" if missing else
                              "every run's whole-window total, ok or not")})
    idle_t = idle_j = 0.0
    n_idle = 0
    idle_unmetered = 0
    settle_t, n_settle = 0.0, 0
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
        if idle.get("settle_s") is not None:
            n_settle += 1
            settle_t += float(idle["settle_s"])
    rows.append({"item": "idle_baseline", "count": n_idle, "seconds": idle_t,
                 "energy_j": idle_j if n_idle else (0.0 if not idle_unmetered else None),
                 "energy_method": "measured idle power x window" if n_idle else "",
                 "note": (f"{idle_unmetered} run(s) asked for a baseline with no meter to take it (no wait)"
                          if idle_unmetered else "no baseline taken" if not n_idle else "")})
    rows.append({"item": "settle_wait", "count": n_settle, "seconds": settle_t, "energy_j": None,
                 "energy_method": "", "note": "time only: the wait reads power to decide, it is not metered"
                 if n_settle else "no settle wait (no GPU or settle_timeout_s 0)"})
    # Snakemake's job times: training jobs' overhead outside their windows, the other jobs
    paths = record_paths or []
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
    rows.append({"item": "job_overhead", "count": n_timed, "seconds": train_wall if n_timed else None,
                 "energy_j": None, "energy_method": "",
                 "note": ("training jobs' time outside their measured windows (Snakemake's job times); "
                          "energy not measured") if n_timed else "no Snakemake job times found"})
    by_rule: dict[str, list[tuple[float, float]]] = {}
    for v in jobs.values():  # a job with several outputs has one metadata record per output
        if not str(v.get("rule", "")).startswith("train_") and v.get("rule") != "footprint":
            by_rule.setdefault(v["rule"], []).append((v["starttime"], v["endtime"]))
    rule_s = {k: union_seconds(v) for k, v in by_rule.items()}
    rows.append({"item": "workflow", "count": len(by_rule) if by_rule else None,
                 "seconds": sum(rule_s.values()) if by_rule else None,
                 "energy_j": None, "energy_method": "",
                 "note": ("non-training jobs: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(rule_s.items()))
                          + "; energy not measured (they run outside the energy wrapper)") if by_rule
                 else "no Snakemake job times found"})
    total_s = sum(r["seconds"] for r in rows if r["seconds"] is not None)
    e_parts = [r["energy_j"] for r in rows if r["item"] in ("training_single", "training_pair", "idle_baseline")]
    rows.append({"item": "total", "count": len(records), "seconds": total_s,
                 "energy_j": sum(e for e in e_parts if e is not None) if any(e is not None for e in e_parts) else None,
                 "energy_method": "sum of the rows above",
                 "note": "energy: training runs and idle baselines (settle waits and analysis not metered)"})
    intervals = [(v["starttime"], v["endtime"]) for v in jobs.values() if v.get("rule") != "footprint"]
    wall = union_seconds(intervals) if intervals else None
    rows.append({"item": "wall_time", "count": None, "seconds": wall,
                 "energy_j": None, "energy_method": "",
                 "note": ("time some job of the study was running: the union of Snakemake's job intervals, "
                          "across invocations (the gaps between them and Snakemake's own start-up not counted)")
                 if wall is not None else "no Snakemake job times found"})
    for r in rows:
        r.update(accounting(r.get("energy_j"), carbon))
        est = (estimate or {}).get(r["item"])
        if est:
            for q in ("seconds", "energy_j"):
                for sfx in ("", "_low", "_high"):
                    r[f"estimated_{q}{sfx}"] = est.get(f"{q}{sfx}")
            for q, name in (("seconds", "seconds"), ("energy_j", "energy")):
                r[f"{name}_vs_estimate"], r[f"{name}_in_estimate_range"] = versus_estimate(r.get(q), est, q)
    return rows


def write_footprint(rows: list[dict], path: str | Path) -> Path:
    from greenhp.atomic import write_text

    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(FOOT_COLUMNS)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in FOOT_COLUMNS])
    write_text(path, buf.getvalue())
    return Path(path)


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


def _in_range(inside: bool | None) -> str:
    return "no range" if inside is None else "inside its range" if inside else "outside its range"


def footprint_summary_lines(rows: list[dict], carbon: Mapping | None) -> list[str]:
    """A few sentences on the study's own footprint, for the summary page: the footprint rows'
    own numbers (:func:`footprint`, the same rows footprint.tsv holds), of the items known before the
    analysis ends (:data:`RECORD_ITEMS` and the total's energy, kWh, CO2e and cost)."""
    carbon = carbon or {}
    by = {r["item"]: r for r in rows}
    out = []
    runs = [by[k] for k in ("training_single", "training_pair") if k in by]
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
    out.append(f"- Training: {n} runs ({modes}; {st}) "
               f"took {_hms(secs)} in their measured windows and used "
               f"{_j(sum(es)) if es else 'an unmeasured amount of energy'}{est}.")
    ib, sw = by.get("idle_baseline"), by.get("settle_wait")
    if ib and ib["count"]:
        out.append(f"- Idle baselines: {ib['count']} taken, {_hms(ib['seconds'])}, {_j(ib['energy_j'])}.")
    else:
        out.append("- Idle baselines: none taken.")
    if sw and sw["count"]:
        out.append(f"- Settle waits: {sw['count']}, {_hms(sw['seconds'])} in all (time only, not metered).")
    tot = by.get("total")
    if tot and tot.get("kwh") is not None:
        parts = [f"{tot['kwh']:.3g} kWh"]
        if tot.get("co2e_g") is not None:
            parts.append(f"{tot['co2e_g']:.3g} g CO2e at {carbon['intensity_g_per_kwh']:g} g/kWh")
        if tot.get("cost") is not None:
            parts.append(f"cost {tot['cost']:.3g} at {carbon['price_per_kwh']:g} per kWh")
        out.append(f"- In all: {', '.join(parts)} (training and baselines; the total of ``footprint.tsv``).")
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
        out.append("- Against the estimate made before the study (``estimate.tsv``): " + "; ".join(compared) + ".")
        out.append("- The whole study's time (analysis jobs included) and its wall time, each against the "
                   "estimate, are in ``results/footprint.tsv``, written after this page.")
    else:
        out.append("- The whole study's time (analysis jobs included) and its wall time are in "
                   "``results/footprint.tsv``, written after this page.")
    return out


def study_footprint(record_paths: Iterable[str | Path], *, carbon: Mapping | None,
                    estimate_path: str | Path | None = None, metadata_dir: str | Path | None = None,
                    extra_outputs: Iterable[str] = (), skipped: list | None = None) -> list[dict]:
    """:func:`footprint` of the run records at ``record_paths`` under the ``carbon`` settings, against
    ``estimate_path`` (estimate.tsv) when given and present; with ``metadata_dir``
    (``.snakemake/metadata``) the job times of these records and of ``extra_outputs``.

    Rule ``footprint`` (footprint.tsv) and the summary page (rule ``plots``, before the job times
    are all known: no ``metadata_dir``) both call this with the same records, estimate and carbon. Records failing the run-record check
    are left out of the sums, counted (:func:`note_invalid`) and appended to ``skipped`` as (path, why)."""
    skipped = [] if skipped is None else skipped
    records, names = load_records(record_paths, skipped)
    est = read_estimate_tsv(estimate_path) if estimate_path and Path(estimate_path).is_file() else None
    jobs = snakemake_jobs(metadata_dir) if metadata_dir else {}
    wanted = set(names) | set(map(str, extra_outputs))
    jobs = {k: v for k, v in jobs.items() if k in wanted}
    return note_invalid(footprint(records, estimate=est, jobs=jobs, carbon=carbon, record_paths=names), skipped)


def summary_footprint(record_paths: Iterable[str | Path], *, carbon: Mapping | None,
                      estimate_path: str | Path | None = None) -> list[str]:
    """The summary page's footprint lines: :func:`footprint_summary_lines` of :func:`study_footprint`
    (no job times); [] where there are no records (a re-analysis)."""
    record_paths = list(record_paths)
    if not record_paths:
        return []
    return footprint_summary_lines(study_footprint(record_paths, carbon=carbon, estimate_path=estimate_path),
                                   carbon)


def format_mutants(mutants) -> str:
    """The mutant table as aligned text: one row per configuration with every hyperparameter value."""
    hps: list[str] = []
    for m in mutants:
        hps += [h for h in m.hp if h not in hps]
    head = ["mutant_id", "hyperparameter", "value"] + hps
    body = [[m.mutant_id, m.hyperparameter, "" if m.value is None else f"{m.value:g}"]
            + [f"{m.hp[h]:g}" if h in m.hp else "" for h in hps] for m in mutants]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head] + body)
