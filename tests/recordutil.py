"""Complete a test's partial run record into one that passes greenhp.record.check (import as
``recordutil``): the keys a test leaves out come from a small valid record, and the derived numbers
(total domains, energy_kwh) are computed the way the wrapper computes them."""

import copy

_BASE = {
    "schema_version": 1, "run_id": "single__s__original__rep1", "mode": "single", "mutant_id": "s__original",
    "subject": "s", "hyperparameter": "none", "operator": "none", "original": None, "value": None,
    "repetition": 1, "seed": 1, "partner": None, "requested": {"epochs": 1}, "effective": {"epochs": 1},
    "status": "ok", "reason": None, "metric": {"name": "accuracy", "value": 0.5},
    "timing": {"start_unix": 1.0, "duration_s": 1.0}, "device": "cpu", "environment": {},
}


def complete(partial: dict) -> dict:
    """``partial`` with every key the record schema requires, its energy total naming the measured
    domains (a total given without domains becomes an estimated CPU energy) and ``carbon.energy_kwh``
    the total in kWh."""
    rec = copy.deepcopy(_BASE)
    for k, v in copy.deepcopy(partial).items():
        rec[k] = {**rec[k], **v} if isinstance(v, dict) and isinstance(rec.get(k), dict) else v
    rec["run_id"] = partial.get("run_id", f"{rec['mode']}__{rec['mutant_id']}__rep{rec['repetition']}")
    if rec["mode"] == "pair":
        rec["partner"] = {"hyperparameter": "none", "operator": "none", "mutant_id": "p__original", "subject": "p",
                          **(rec.get("partner") or {})}
        rec.setdefault("partner_result", {"status": "ok"})
    energy = rec.setdefault("energy", {})
    total = energy.setdefault("total", {"energy_j": None})
    domains = {d: energy.get(d) for d in ("gpu", "cpu", "dram")}
    if all((v or {}).get("energy_j") is None for v in domains.values()) and total.get("energy_j") is not None:
        domains["cpu"] = {"energy_j": total["energy_j"], "method": "estimate_cpu_time", "estimated": True}
    for d, v in domains.items():
        v = dict(v or {})
        if v.get("energy_j") is None:
            v.update(energy_j=None, method="unavailable", reason=v.get("reason") or f"{d} not measured in this test")
        energy[d] = v
    measured = [d for d in ("gpu", "cpu", "dram") if energy[d]["energy_j"] is not None]
    total.update(domains=measured, energy_j=sum(energy[d]["energy_j"] for d in measured) if measured else None,
                 estimated=any(str(energy[d]["method"]).startswith("estimate_") for d in measured))
    carbon = rec.setdefault("carbon", {})
    carbon.setdefault("intensity_g_per_kwh", None)
    carbon["energy_kwh"] = total["energy_j"] / 3.6e6 if total["energy_j"] is not None else None
    carbon["co2e_g"] = (carbon["energy_kwh"] * carbon["intensity_g_per_kwh"]
                        if carbon["energy_kwh"] is not None and carbon["intensity_g_per_kwh"] is not None else None)
    return rec
