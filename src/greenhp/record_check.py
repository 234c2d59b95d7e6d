"""What a run record must satisfy beyond its schema: the arithmetic of how the wrapper builds it.

The schema (``schemas/run_record.schema.yaml``) fixes a record's shape and types; this module checks
that its numbers agree with each other and with what they measure, the way :mod:`greenhp.runner` and
:class:`greenhp.energy.EnergyMonitor` build them:

- every number is finite (the wrapper writes ``null`` for what it could not measure, never NaN/inf);
- times, counts, energies, idle powers and carbon figures are not negative;
- ``energy.total.energy_j`` is the sum of the domains it names, and names exactly the measured
  domains (a missing domain is ``null`` with a reason, never 0, and is not in the total); a total
  that counts an estimated domain says ``estimated: true``;
- the net energies (minus the idle baseline) are at most the gross ones and their total is the sum
  of its parts; pair shares (``energy.attribution``) add up to the device's energy, domain by domain;
- each process's phases (``energy.phases``) add up to at most the whole window's total, domain by
  domain, as does the training window and every cumulative epoch row, and each phase's total is the
  sum of its domains;
- ``carbon.energy_kwh`` is the total in kWh;
- ``timing.train_seconds`` (the subject's own timing of its training loop) is a number of seconds
  within the run's measured duration;
- a metric whose name has a known range (:data:`METRIC_RANGES`: an accuracy-like fraction in
  [0, 1], a loss >= 0, a perplexity >= 1) lies in it.

These catch a record that contradicts itself (a hand edit, a subject that overwrote a record, a
meter fault), not a consistent lie: a subject runs with the user's rights and can write any
plausible record (docs/architecture.md, "What greenhp can and cannot check").

The same value checks apply to a training result where it enters the wrapper
(:func:`result_value_problem`, used by :func:`greenhp.runner.checked`), so that the wrapper never
writes a record these checks would reject for the subject's values.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from greenhp import units

DOMAINS = ("gpu", "cpu", "dram")
#: Sums agree "within rounding": this many joules plus this fraction of the larger side.
ABS_TOL_J = 1e-3
REL_TOL = 1e-6
#: Phases, epochs and the training window are differences of meter readings taken at marks; they may
#: undershoot zero or overshoot the total by this fraction of the total (plus ABS_TOL_J) at most.
PHASE_TOL = 1e-4
#: ``train_seconds`` is timed inside the training process, which lives inside the measured window:
#: it may exceed the window's duration by this much only (clock granularity).
TRAIN_SECONDS_SLACK_S = 1.0
TRAIN_SECONDS_SLACK_REL = 0.01

_FRACTION = (0.0, 1.0)
_NON_NEGATIVE = (0.0, math.inf)
#: Metric names (case-insensitive) whose values have a known range: (low, high), inclusive. A value
#: outside it is not a measurement of that metric (an accuracy of -5 or 1e308, a percentage where a
#: fraction is meant). Names not listed are checked for being finite only.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    **{n: _FRACTION for n in ("accuracy", "test_accuracy", "val_accuracy", "train_accuracy", "balanced_accuracy",
                              "top1", "top5", "rank1", "map", "f1", "auc", "roc_auc", "precision", "recall",
                              "error_rate")},
    **{n: _NON_NEGATIVE for n in ("loss", "test_loss", "val_loss", "train_loss", "nll", "cross_entropy",
                                  "mse", "rmse", "mae", "wer", "cer")},
    "perplexity": (1.0, math.inf),
    "r2": (-math.inf, 1.0),
}
ESTIMATE_PREFIX = "estimate_"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    if is_number(value):
        return f"{value:.6g}"
    return repr(value) if not isinstance(value, str) else repr(value[:60])


def metric_problem(name: Any, value: Any) -> str | None:
    """Why ``value`` cannot be a value of the metric ``name`` (not a finite number, or outside the
    name's known range, :data:`METRIC_RANGES`), or None."""
    if value is None:
        return None
    if not is_number(value):
        return f"{_fmt(value)} ({type(value).__name__}) is not a number"
    if not math.isfinite(value):
        return f"{value} is not a finite number"
    bounds = METRIC_RANGES.get(str(name).strip().lower()) if isinstance(name, str) else None
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        lo, hi = bounds
        what = ("a fraction in [0, 1]" if bounds == _FRACTION else f"at least {lo:g}" if hi == math.inf
                else f"at most {hi:g}" if lo == -math.inf else f"in [{lo:g}, {hi:g}]")
        return f"{_fmt(value)} is outside the range of {name!r}, which is {what}"
    return None


def train_seconds_problem(value: Any, duration_s: Any = None) -> str | None:
    """Why ``value`` cannot be a run's ``train_seconds`` (not a finite number >= 0, or longer than the
    run's measured ``duration_s``), or None. None itself (not reported) is not a problem here."""
    if value is None:
        return None
    if not is_number(value):
        return f"{_fmt(value)} ({type(value).__name__}) is not a number of seconds"
    if not math.isfinite(value) or value < 0:
        return f"{_fmt(value)} is not a finite, non-negative number of seconds"
    if is_number(duration_s) and math.isfinite(duration_s) and \
            value > duration_s * (1 + TRAIN_SECONDS_SLACK_REL) + TRAIN_SECONDS_SLACK_S:
        return (f"{_fmt(value)} s is longer than the whole run's measured duration ({_fmt(duration_s)} s), "
                f"inside which the training ran")
    return None


def result_value_problem(result: dict, duration_s: float | None = None) -> str | None:
    """For an ``ok`` training result (``greenhp.train``'s, from the subject's ``TrainResult``): why its
    metric value or ``train_seconds`` cannot be recorded as ok, naming the field, or None."""
    name = result.get("metric_name")
    problem = metric_problem(name, result.get("metric_value"))
    if problem:
        return f"the subject's TrainResult.metric_value ({name}) {problem}"
    if result.get("train_seconds") is None:
        return "the subject's TrainResult.train_seconds is missing (None): the training loop's seconds are required"
    problem = train_seconds_problem(result.get("train_seconds"), duration_s)
    if problem:
        return f"the subject's TrainResult.train_seconds {problem}"
    return None


def without_bad_values(result: dict, duration_s: float | None = None) -> dict:
    """``result`` with a metric value or ``train_seconds`` that :func:`metric_problem` or
    :func:`train_seconds_problem` rejects set to None (for a result that is not ok: its reason says
    why; those values are not used, and a record must not carry them)."""
    out = dict(result)
    if metric_problem(out.get("metric_name"), out.get("metric_value")):
        out["metric_value"] = None
    if train_seconds_problem(out.get("train_seconds"), duration_s):
        out["train_seconds"] = None
    return out


# -- the record ------------------------------------------------------------------------------------
def _walk(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, path + (i,))
    else:
        yield path, value


def _p(*parts) -> str:
    return "/".join(str(p) for p in parts)


def _close(a: float, b: float, scale: float = 0.0) -> bool:
    return abs(a - b) <= ABS_TOL_J + REL_TOL * max(abs(a), abs(b), abs(scale))


def _num(d: Any, key: str) -> float | None:
    v = d.get(key) if isinstance(d, dict) else None
    return float(v) if is_number(v) else None


def problems(rec: dict) -> list[str]:
    """Every way a schema-valid run record ``rec`` contradicts itself, one line each, starting with the
    field (``energy/total/energy_j: ...``); [] when none."""
    out: list[str] = []
    for path, v in _walk(rec):
        if isinstance(v, float) and not math.isfinite(v):
            out.append(f"{_p(*path)}: {v} is not a number a record may hold (the wrapper writes null "
                       f"for what it could not measure)")
    if out:
        return out  # the arithmetic below assumes finite numbers
    out += _timing_problems(rec)
    out += _metric_problems(rec)
    energy = rec.get("energy") or {}
    out += _energy_problems(energy)
    out += _carbon_problems(rec.get("carbon"), energy)
    return out


def problem(rec: dict) -> str | None:
    """The first of :func:`problems`, or None."""
    found = problems(rec)
    return found[0] if found else None


def _timing_problems(rec: dict) -> list[str]:
    out = []
    timing = rec.get("timing") or {}
    duration = _num(timing, "duration_s")
    p = train_seconds_problem(timing.get("train_seconds"), duration)
    if p:
        out.append(f"timing/train_seconds: {p}")
    partner = rec.get("partner_result")
    if isinstance(partner, dict):
        p = train_seconds_problem(partner.get("train_seconds"), duration)
        if p:
            out.append(f"partner_result/train_seconds: {p}")
    cpu = timing.get("cpu_seconds")
    for label, v in cpu.items() if isinstance(cpu, dict) else ():
        if not is_number(v) or v < 0:
            out.append(f"timing/cpu_seconds/{label}: {_fmt(v)} is not a non-negative number of seconds")
    energy = rec.get("energy") or {}
    window = energy.get("window")
    if isinstance(window, dict) and is_number(window.get("duration_s")) and window["duration_s"] < 0:
        out.append(f"energy/window/duration_s: {_fmt(window['duration_s'])} is negative")
    idle = energy.get("idle")
    if isinstance(idle, dict):
        for k in ("gpu_w", "cpu_w", "dram_w", "seconds", "settle_s", "prepare_s"):
            v = idle.get(k)
            if is_number(v) and v < 0:
                out.append(f"energy/idle/{k}: {_fmt(v)} is negative")
    return out


def _metric_problems(rec: dict) -> list[str]:
    out = []
    metric = rec.get("metric") or {}
    p = metric_problem(metric.get("name"), metric.get("value"))
    if p:
        out.append(f"metric/value: {p}")
    partner = rec.get("partner_result")
    pm = partner.get("metric") if isinstance(partner, dict) else None
    if isinstance(pm, dict):
        p = metric_problem(pm.get("name"), pm.get("value"))
        if p:
            out.append(f"partner_result/metric/value: {p}")
    return out


def _energy_problems(energy: dict) -> list[str]:
    out = []
    gross: dict[str, float | None] = {}
    for d in DOMAINS:
        e = _num(energy.get(d), "energy_j")
        gross[d] = e
        if e is not None and e < 0:
            out.append(f"energy/{d}/energy_j: {_fmt(e)} J is negative")
    total = energy.get("total") or {}
    total_j = _num(total, "energy_j")
    measured = [d for d in DOMAINS if gross[d] is not None]
    named = list(total.get("domains") or [])
    if sorted(named) != sorted(measured):
        out.append(f"energy/total/domains: {named} are not the measured domains {measured} (a domain is summed "
                   f"into the total exactly when it has a number)")
    elif not measured:
        if total_j is not None:
            out.append(f"energy/total/energy_j: {_fmt(total_j)} J, but no domain was measured (it must be null)")
    elif total_j is None:
        out.append(f"energy/total/energy_j: null, but {', '.join(measured)} were measured")
    else:
        parts = sum(gross[d] for d in measured)
        if not _close(total_j, parts):
            out.append(f"energy/total/energy_j: {_fmt(total_j)} J is not the sum of its domains "
                       f"({' + '.join(f'{d} {_fmt(gross[d])} J' for d in measured)} = {_fmt(parts)} J)")
    estimated = [d for d in measured
                 if str((energy.get(d) or {}).get("method") or "").startswith(ESTIMATE_PREFIX)]
    if estimated and total.get("estimated") is not True:
        out.append(f"energy/total/estimated: {total.get('estimated')!r}, but the total counts the estimate of "
                   f"{', '.join(estimated)}")
    scale = total_j or 0.0
    out += _net_problems(energy.get("net"), gross, measured, scale)
    out += _share_problems(energy.get("attribution"), gross)
    phases = energy.get("phases")
    if isinstance(phases, dict):
        for label, ph in phases.items():
            out += _phase_problems(f"energy/phases/{label}", ph, gross, measured, total_j)
    return out


def _net_problems(net: Any, gross: dict, measured: list[str], scale: float) -> list[str]:
    if net is None:
        return []
    if not isinstance(net, dict):
        return [f"energy/net: {type(net).__name__}, not a mapping"]
    out = []
    for d in DOMAINS:
        n = net.get(f"{d}_j")
        if n is None:
            continue
        if not is_number(n):
            out.append(f"energy/net/{d}_j: {_fmt(n)} is not a number")
        elif gross[d] is None:
            out.append(f"energy/net/{d}_j: {_fmt(n)} J, but {d} was not measured")
        elif n > gross[d] + ABS_TOL_J + REL_TOL * abs(gross[d]):
            out.append(f"energy/net/{d}_j: {_fmt(n)} J exceeds the gross {d} energy ({_fmt(gross[d])} J): "
                       f"the idle baseline is never negative")
    t = net.get("total_j")
    if t is not None and not out:
        if not is_number(t):
            out.append(f"energy/net/total_j: {_fmt(t)} is not a number")
        else:
            parts = [net.get(f"{d}_j") for d in measured]
            if not measured or any(p is None for p in parts):
                out.append(f"energy/net/total_j: {_fmt(t)} J, but not every measured domain has a net energy")
            elif not _close(t, sum(parts), scale):
                out.append(f"energy/net/total_j: {_fmt(t)} J is not the sum of the net domains ({_fmt(sum(parts))} J)")
    return out


def _share_problems(shares: Any, gross: dict) -> list[str]:
    if shares is None:
        return []
    if not isinstance(shares, dict) or not all(isinstance(s, dict) for s in shares.values()):
        return ["energy/attribution: not a mapping of process -> shares"]
    out = []
    for d in DOMAINS:
        vals = {lab: s.get(f"{d}_j") for lab, s in shares.items()}
        if gross[d] is None:
            bad = [lab for lab, v in vals.items() if v is not None]
            if bad:
                out.append(f"energy/attribution/{bad[0]}/{d}_j: {_fmt(vals[bad[0]])} J, but {d} was not measured")
            continue
        for lab, v in vals.items():
            if not is_number(v) or v < -ABS_TOL_J:
                out.append(f"energy/attribution/{lab}/{d}_j: {_fmt(v)} is not a non-negative number of joules")
        if out:
            continue
        if not _close(sum(vals.values()), gross[d]):
            out.append(f"energy/attribution: the {d} shares ({' + '.join(f'{lab} {_fmt(v)} J' for lab, v in vals.items())}) "
                       f"do not add up to the {d} energy ({_fmt(gross[d])} J)")
    for lab, s in shares.items():
        t = s.get("total_j")
        parts = [s.get(f"{d}_j") for d in DOMAINS if s.get(f"{d}_j") is not None]
        if t is not None and (not is_number(t) or not all(is_number(p) for p in parts)
                              or not _close(t, sum(parts))):
            out.append(f"energy/attribution/{lab}/total_j: {_fmt(t)} J is not the sum of its shares")
    return out


def _phase_energy_problems(where: str, ph: dict, gross: dict, measured: list[str], total_j: float | None,
                           allow_total: bool = True) -> list[str]:
    """One phase (or training window, or epoch row): each domain and the total within [0, the whole
    window's energy] (PHASE_TOL), the total the sum of its measured domains."""
    out = []
    for d in DOMAINS:
        v = ph.get(f"{d}_j")
        if v is None:
            continue
        if not is_number(v):
            out.append(f"{where}/{d}_j: {_fmt(v)} is not a number")
            continue
        if gross[d] is None:
            out.append(f"{where}/{d}_j: {_fmt(v)} J, but {d} was not measured in the window")
            continue
        tol = ABS_TOL_J + PHASE_TOL * gross[d]
        if v < -tol or v > gross[d] + tol:
            out.append(f"{where}/{d}_j: {_fmt(v)} J is outside [0, {_fmt(gross[d])} J], the whole window's {d} energy")
    t = ph.get("total_j")
    if t is None or out:
        return out
    if not is_number(t):
        return [f"{where}/total_j: {_fmt(t)} is not a number"]
    if total_j is None:
        return [f"{where}/total_j: {_fmt(t)} J, but the window has no total"]
    tol = ABS_TOL_J + PHASE_TOL * total_j
    if t < -tol or t > total_j + tol:
        return [f"{where}/total_j: {_fmt(t)} J is outside [0, {_fmt(total_j)} J], the whole window's total"]
    parts = [ph.get(f"{d}_j") for d in measured]
    if all(is_number(p) for p in parts) and not _close(t, sum(parts), total_j):
        return [f"{where}/total_j: {_fmt(t)} J is not the sum of its domains ({_fmt(sum(parts))} J)"]
    return out


def _phase_problems(where: str, ph: Any, gross: dict, measured: list[str], total_j: float | None) -> list[str]:
    if not isinstance(ph, dict):
        return []
    out = []
    phases = [p for p in ph.get("phases") or [] if isinstance(p, dict)]
    for i, p in enumerate(phases):
        name = p.get("name", i)
        dur = p.get("duration_s")
        if is_number(dur) and dur < -1e-6:
            out.append(f"{where}/phases/{name}/duration_s: {_fmt(dur)} s is negative")
        out += _phase_energy_problems(f"{where}/phases/{name}", p, gross, measured, total_j)
    if out:
        return out
    for d in DOMAINS:  # the phases of one process tile its window: together at most the window's energy
        vals = [p.get(f"{d}_j") for p in phases if is_number(p.get(f"{d}_j"))]
        if vals and gross[d] is not None and sum(vals) > gross[d] + ABS_TOL_J + PHASE_TOL * gross[d]:
            out.append(f"{where}/phases: the {d} energies add up to {_fmt(sum(vals))} J, more than the whole "
                       f"window's {d} energy ({_fmt(gross[d])} J)")
    tots = [p.get("total_j") for p in phases if is_number(p.get("total_j"))]
    if tots and total_j is not None and sum(tots) > total_j + ABS_TOL_J + PHASE_TOL * total_j:
        out.append(f"{where}/phases: the phases' totals add up to {_fmt(sum(tots))} J, more than the whole "
                   f"window's total ({_fmt(total_j)} J)")
    training = ph.get("training")
    if isinstance(training, dict):
        dur = training.get("duration_s")
        if is_number(dur) and dur < -1e-6:
            out.append(f"{where}/training/duration_s: {_fmt(dur)} s is negative")
        out += _phase_energy_problems(f"{where}/training", training, gross, measured, total_j)
        net = training.get("total_net_j")
        t = training.get("total_j")
        if is_number(net) and is_number(t) and net > t + ABS_TOL_J + REL_TOL * abs(t):
            out.append(f"{where}/training/total_net_j: {_fmt(net)} J exceeds the training window's gross total "
                       f"({_fmt(t)} J)")
    for i, row in enumerate(ph.get("epochs") or []):
        if not isinstance(row, dict):
            continue
        t_s = row.get("t_s")
        if is_number(t_s) and t_s < -1e-6:
            out.append(f"{where}/epochs/{i}/t_s: {_fmt(t_s)} s is negative")
        out += _phase_energy_problems(f"{where}/epochs/{i}", row, gross, measured, total_j)
    return out


def _carbon_problems(carbon: Any, energy: dict) -> list[str]:
    if not isinstance(carbon, dict):
        return []
    out = []
    for k, v in carbon.items():
        if v is not None and k.endswith(("_kwh", "_g", "_g_per_kwh")) and (not is_number(v) or v < 0):
            out.append(f"carbon/{k}: {_fmt(v)} is not a non-negative number")
    if out:
        return out
    kwh = carbon.get("energy_kwh")
    total_j = _num(energy.get("total"), "energy_j")
    if total_j is None and kwh is not None:
        out.append(f"carbon/energy_kwh: {_fmt(kwh)} kWh, but the run has no total energy")
    elif total_j is not None and (kwh is None or not _close(kwh * units.J_PER_KWH, total_j)):
        out.append(f"carbon/energy_kwh: {_fmt(kwh)} kWh is not the total energy ({_fmt(total_j)} J = "
                   f"{_fmt(units.kwh(total_j))} kWh)")
    return out
