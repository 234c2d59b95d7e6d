"""The study's accounting units in one place: joules -> kWh -> grams CO2e and cost.

Every kWh, CO2e and cost figure greenhp shows (``results/runs.tsv``, ``results/footprint.tsv``,
the summary page, the recommendations, ``greenhp plan --estimate``) is computed here, from joules
and the ``carbon`` settings of the configuration *as it is now* (``intensity_g_per_kwh``,
``price_per_kwh``): changing them changes every page without retraining anything. A run record also
keeps the CO2e of the intensity its job was configured with when it trained (``carbon`` in the
record, labelled as the training-time value); nothing downstream reads that number.

The functions take plain floats or pandas/numpy arrays alike; ``None`` (not measured) stays ``None``.
"""

from __future__ import annotations

from typing import Any, Mapping

#: joules in one kilowatt-hour
J_PER_KWH = 3.6e6
#: the config schema's defaults (``carbon`` in schemas/config.schema.yaml and the re-analysis schema;
#: a test keeps them equal): what the library uses when it is called without carbon settings
DEFAULT_INTENSITY_G_PER_KWH = 400.0
DEFAULT_PRICE_PER_KWH = 0.30


def kwh(energy_j: Any) -> Any:
    """Kilowatt-hours of ``energy_j`` joules (None stays None)."""
    return None if energy_j is None else energy_j / J_PER_KWH


def co2e_g(kwh_value: Any, intensity_g_per_kwh: float | None) -> Any:
    """Grams CO2e of ``kwh_value`` at ``intensity_g_per_kwh`` (None when either is unknown)."""
    if kwh_value is None or intensity_g_per_kwh is None:
        return None
    return kwh_value * float(intensity_g_per_kwh)


def cost(kwh_value: Any, price_per_kwh: float | None) -> Any:
    """Cost of ``kwh_value`` at ``price_per_kwh`` (any currency; None when either is unknown)."""
    if kwh_value is None or price_per_kwh is None:
        return None
    return kwh_value * float(price_per_kwh)


def accounting(energy_j: Any, carbon: Mapping | None) -> dict:
    """``{"kwh", "co2e_g", "cost"}`` of ``energy_j`` joules under the ``carbon`` settings
    (``intensity_g_per_kwh``, ``price_per_kwh``; a missing setting gives None for its figure)."""
    carbon = carbon or {}
    k = kwh(energy_j)
    return {"kwh": k, "co2e_g": co2e_g(k, carbon.get("intensity_g_per_kwh")),
            "cost": cost(k, carbon.get("price_per_kwh"))}
