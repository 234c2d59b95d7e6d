"""The model of one run, fitted to calibration points: pure arithmetic, no file access.

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

``spread`` (a model's, a pair factor's) is the largest relative deviation of a calibration record
from the fitted model, at least :data:`MIN_SPREAD`; greenhp.cost.predict turns it into ranges.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Callable, Iterable

#: the lowest calibration spread assumed (two records can agree by chance)
MIN_SPREAD = 0.02


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


def epochs_of(rec: dict) -> int | None:
    """The epochs a run record trained (effective, else requested), None when it has none."""
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
    pass the run-record check (greenhp.record.check; the readers skip those that do not):
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
        subject=rec["subject"], epochs=epochs_of(rec), batch_size=int(bs) if bs is not None else None,
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


@dataclass
class PairFactor:
    time: float = 1.0
    energy: float = 1.0
    spread: float = MIN_SPREAD
    n: int = 0
    basis: str = "none"


@dataclass
class Calibration:
    """What a prediction needs: each subject's model, the pair factor and the overheads outside the
    measured windows (greenhp.cost.calibration measures one, greenhp.cost.calibration_file reads one)."""

    models: dict[str, SubjectModel]
    pair: PairFactor | None = None
    job_start_s: float = 0.0  # a training job's process start-up, outside its measured window
    workflow_s: float = 0.0  # Snakemake's start-up and its non-training jobs' start-ups
    device: str = "cpu"
    where: str = ""  # the machine (or the source of a given calibration), in words
    notes: list[str] = field(default_factory=list)
    measured: bool = True  # False: read from a calibration file


def median(xs: Iterable[float]) -> float:
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

    fixed_s, epoch_s = _fit_time(points, bfac)
    with_e = [p for p in points if p.energy_j is not None]
    fixed_j, epoch_j, basis = _fit_energy(with_e, bfac, fixed_s, epoch_s)
    model = SubjectModel(
        subject=subject, fixed_s=fixed_s, epoch_s=epoch_s,
        epochs=original_epochs if original_epochs is not None else (points[0].epochs or None),
        batch_size=ref_bs, fixed_j=fixed_j, epoch_j=epoch_j, energy_basis=basis,
        energy_estimated=any(p.energy_estimated for p in with_e), n=len(points),
        settle_s=median(p.settle_s for p in points if p.settle_s is not None)
        if any(p.settle_s is not None for p in points) else None,
        idle_w=median(p.idle_w for p in points if p.idle_w is not None)
        if any(p.idle_w is not None for p in points) else None)
    model.spread = _spread(model, points)
    return model


def _fit_time(points: list[Point], bfac: Callable[[Point], float]) -> tuple[float, float]:
    """(fixed_s, epoch_s) of the points (see the module doc)."""
    timed = [p for p in points if p.train_s is not None and p.epochs]
    if timed:
        epoch_s = median(p.train_s / p.epochs * bfac(p) for p in timed)
        fixed_s = max(0.0, median(p.duration_s - p.train_s for p in timed))
        return fixed_s, epoch_s
    # no training time inside the records: least squares of duration on epochs, else all per epoch
    fixed_s, epoch_s = _line([(float(p.epochs or 1), p.duration_s) for p in points])
    if fixed_s is None or epoch_s is None or epoch_s <= 0 or fixed_s < 0:
        fixed_s, epoch_s = 0.0, median(p.duration_s / (p.epochs or 1) for p in points)
    return fixed_s, epoch_s


def _fit_energy(with_e: list[Point], bfac: Callable[[Point], float], fixed_s: float, epoch_s: float
                ) -> tuple[float | None, float | None, str]:
    """(fixed_j, epoch_j, basis) of the points with an energy: phases, else a fit, else mean power."""
    phased = [p for p in with_e if p.training_j is not None and p.epochs]
    if phased:
        epoch_j = median(p.training_j / p.epochs * bfac(p) for p in phased)
        fixed_j = max(0.0, median(p.energy_j - p.training_j for p in phased))
        return fixed_j, epoch_j, "phases"
    if not with_e:
        return None, None, "none"
    fit_pts = [(p.train_s, p.energy_j) for p in with_e if p.train_s is not None]
    a = b = None
    if len(fit_pts) >= 2:
        ts = [t for t, _ in fit_pts]
        if max(ts) > 0 and (max(ts) - min(ts)) / max(ts) >= 0.3:
            a, b = _line(fit_pts)
    if a is not None and b is not None and b > 0 and a >= 0:
        return a, b * epoch_s, "fit"
    power = sum(p.energy_j for p in with_e) / sum(p.duration_s for p in with_e)
    return power * fixed_s, power * epoch_s, "mean_power"


def _spread(model: SubjectModel, points: list[Point]) -> float:
    """The largest relative deviation of a point's time or energy from ``model`` (at least MIN_SPREAD)."""
    devs = []
    for p in points:
        pred = model.run(p.epochs, p.batch_size)
        devs.append(abs(p.duration_s - pred["seconds"]) / pred["seconds"] if pred["seconds"] > 0 else 0.0)
        if p.energy_j is not None and pred["energy_j"]:
            devs.append(abs(p.energy_j - pred["energy_j"]) / pred["energy_j"])
    return max([MIN_SPREAD] + devs)


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
        m = ms.run(epochs_of(rec), (rec.get("requested") or {}).get("batch_size"))
        p = ps.run(int(pe) if pe is not None else None, (pres.get("effective") or {}).get("batch_size"))
        t.append(float(rec["timing"]["duration_s"]) / max(m["seconds"], p["seconds"]))
        tot = ((rec.get("energy") or {}).get("total") or {}).get("energy_j")
        if tot is not None and m["energy_j"] and p["energy_j"]:
            e.append(float(tot) / (m["energy_j"] + p["energy_j"]))
    if not t:
        return None
    ft, fe = median(t), (median(e) if e else 1.0)
    devs = [abs(x - ft) / ft for x in t] + [abs(x - fe) / fe for x in e]
    return PairFactor(time=ft, energy=fe, spread=max([MIN_SPREAD] + devs), n=len(t),
                      basis=f"{len(t)} pair record(s)")
