"""Phase and epoch energy from the marks a training process sent during a measured window.

A *mark* is one line the training process wrote (``greenhp.marks``) at a phase boundary, with the
reading of every meter the wrapper took the moment it arrived: cumulative joules per domain since
the window began. Marks sent by the harness (``greenhp.train``) without the subject's help:

- ``start``: the training process is running Python (interpreter up, before ``import torch``);
- ``run_start``: torch imported, subject resolved, just before ``subject.run``;
- ``data_ready`` (optional): the subject's data are loaded (``RunContext.data_ready()``);
- ``epoch``: each ``RunContext.epoch_done`` (epoch number, task metric, loss);
- ``run_end``: ``subject.run`` returned (training and evaluation done).

Phases of one process (each closes where the next opens; the last closes at the window's end
reading, so the phases add up to the whole-run energy exactly, domain by domain):

- ``setup``: window begin -> training start (``data_ready`` if sent, else ``run_start``): interpreter
  start, imports, data loading;
- ``training``: training start -> training end (the last ``epoch`` mark; ``run_end`` when the subject
  never calls ``epoch_done``);
- ``evaluation``: last ``epoch`` mark -> ``run_end`` (only when there are epoch marks);
- ``end``: ``run_end`` -> window end (writing the result, interpreter exit).

Epoch rows: cumulative seconds and energy per domain from the training start to each epoch mark.
The training window (``training``) is the phase of the same name.
"""

from __future__ import annotations

from typing import Any, Iterable

DOMAINS = ("gpu", "cpu", "dram")


def _cum_at_mark(mark: dict, dom: str, domain: dict) -> tuple[float | None, str | None]:
    if domain.get("energy_j") is None:
        return None, domain.get("reason") or f"{dom} not measured"
    r = (mark.get("readings") or {}).get(dom) or {}
    if r.get("value_j") is None:
        return None, r.get("reason") or f"no {dom} reading at mark {mark.get('name')}"
    if r.get("method") != domain.get("method"):
        return None, (f"{dom} read at mark {mark.get('name')} by {r.get('method')}, "
                      f"but the window's total is {domain.get('method')}")
    return float(r["value_j"]), None


class _Boundary:
    """A point of the window with the cumulative energy per domain (None + reason where unknown)."""

    def __init__(self, name: str, t: float, cum: dict[str, float | None], why: dict[str, str | None]):
        self.name, self.t, self.cum, self.why = name, t, cum, why


def _boundary_begin(t: float, domains: dict) -> _Boundary:
    cum, why = {}, {}
    for d in DOMAINS:
        e = domains[d].get("energy_j")
        cum[d] = 0.0 if e is not None else None
        why[d] = None if e is not None else (domains[d].get("reason") or f"{d} not measured")
    return _Boundary("begin", t, cum, why)


def _boundary_end(t: float, domains: dict) -> _Boundary:
    cum, why = {}, {}
    for d in DOMAINS:
        e = domains[d].get("energy_j")
        cum[d] = float(e) if e is not None else None
        why[d] = None if e is not None else (domains[d].get("reason") or f"{d} not measured")
    return _Boundary("end", t, cum, why)


def _boundary_mark(mark: dict, domains: dict) -> _Boundary:
    cum, why = {}, {}
    for d in DOMAINS:
        cum[d], why[d] = _cum_at_mark(mark, d, domains[d])
    name = mark["name"] + (f" {mark['epoch']}" if mark.get("epoch") is not None else "")
    return _Boundary(name, float(mark["t"]), cum, why)


def _energies(a: _Boundary, b: _Boundary, total_domains: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for d in DOMAINS:
        if a.cum[d] is None or b.cum[d] is None:
            out[f"{d}_j"] = None
            reasons[d] = a.why[d] or b.why[d] or f"{d} not measured"
        else:
            out[f"{d}_j"] = b.cum[d] - a.cum[d]
    parts = [out[f"{d}_j"] for d in total_domains]
    if total_domains and all(p is not None for p in parts):
        out["total_j"] = sum(parts)
    else:
        out["total_j"] = None
        reasons["total"] = ("no domain measured" if not total_domains else
                            "a summed domain has no reading here: " + ", ".join(
                                d for d in total_domains if out[f"{d}_j"] is None))
    if reasons:
        out["reasons"] = reasons
    return out


def net_total(energies: dict, idle: dict, methods: dict, duration: float, total_domains: list[str]) -> float | None:
    """Net total of a stretch: minus idle power x duration per domain; the CPU-time estimate has
    no idle part (net = gross); None where a summed domain has no baseline. One domain in
    ``total_domains`` gives that domain's net (greenhp.lean.derive uses it for derived rows)."""
    parts = []
    for d in total_domains:
        e = energies.get(f"{d}_j")
        if e is None:
            return None
        if methods.get(d) == "estimate_cpu_time":
            parts.append(e)
        elif idle.get(f"{d}_w") is None:
            return None
        else:
            parts.append(e - idle[f"{d}_w"] * duration)
    return sum(parts) if parts else None


def build(marks: Iterable[dict], domains: dict[str, dict], total_domains: list[str], t_start: float,
          t_end: float, idle: dict | None = None, estimated: bool = False) -> dict[str, Any]:
    """Phases, training window and epoch rows of one process from its ``marks`` (in arrival order).

    ``domains`` maps gpu/cpu/dram to the window's results (``energy_j``, ``method``, ``reason``);
    ``total_domains`` are the domains summed into the total.
    """
    marks = sorted((m for m in marks if m.get("t") is not None), key=lambda m: m["t"])
    idle = idle or {}
    methods = {d: domains[d].get("method") for d in DOMAINS}
    by = {}
    for m in marks:
        if m["name"] in ("start", "run_start", "data_ready", "run_end"):
            by.setdefault(m["name"], m)
    epochs = [m for m in marks if m["name"] == "epoch"]
    begin, end = _boundary_begin(t_start, domains), _boundary_end(t_end, domains)
    out: dict[str, Any] = {
        "marks": [{k: m.get(k) for k in ("name", "t", "t_child", "epoch", "metric_name", "metric", "loss", "readings")
                   if m.get(k) is not None} for m in marks],
        "methods": methods, "estimated": bool(estimated),
    }
    t_train0 = by.get("data_ready") or by.get("run_start")
    t_train1 = epochs[-1] if epochs else by.get("run_end")
    if t_train0 is None or t_train1 is None or t_train1["t"] < t_train0["t"]:
        missing = "training start" if t_train0 is None else "training end"
        whole = {"name": "whole", "start_s": 0.0, "duration_s": t_end - t_start,
                 **_energies(begin, end, total_domains)}
        out.update(phases=[whole], training=None, epochs=[],
                   reason=f"the training process sent no {missing} mark (it stopped early or sent no marks)")
        return out
    b0, b1 = _boundary_mark(t_train0, domains), _boundary_mark(t_train1, domains)
    cuts = [("setup", begin, b0), ("training", b0, b1)]
    last = b1
    run_end = by.get("run_end")
    if epochs and run_end is not None and run_end["t"] >= t_train1["t"]:
        br = _boundary_mark(run_end, domains)
        cuts.append(("evaluation", b1, br))
        last = br
    cuts.append(("end", last, end))
    phases = []
    for name, a, b in cuts:
        dur = b.t - a.t
        e = _energies(a, b, total_domains)
        phases.append({"name": name, "start_s": a.t - t_start, "duration_s": dur, "from": a.name,
                       "to": b.name, **e, "total_net_j": net_total(e, idle, methods, dur, total_domains)})
    out["phases"] = phases
    out["training"] = dict(phases[1])
    rows = []
    for m in epochs:
        bm = _boundary_mark(m, domains)
        e = _energies(b0, bm, total_domains)
        rows.append({"epoch": m.get("epoch"), "epochs": m.get("epochs"), "t_s": bm.t - b0.t,
                     **e, "metric_name": m.get("metric_name"), "metric": m.get("metric"),
                     "loss": m.get("loss")})
    out["epochs"] = rows
    return out
