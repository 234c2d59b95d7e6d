"""The study's ``lean:`` section (schema: src/greenhp/schemas/config.schema.yaml), read in one place.

The schema fills in the defaults and checks each key's type; :func:`lean_settings` adds the checks a
schema cannot express (a band's order, the first wave against ``repetitions``) and names the bad key.
"""

from __future__ import annotations

from dataclasses import dataclass

# Chosen from the replays in bench/RESULTS.md ("Lean design"): a first wave of 3 and a band of
# [alpha/10, 0.2) kept 98.6-99.8 % of the verdicts of reference-shaped tables and 100 % of the default
# study's; 0.005 keeps the two-stage false-positive rate at alpha (docs/lean.md); 0.4 of the groups
# were extended in those replays (33-42 %, 75 % in the small, noisy default study).
DEFAULTS = {"enabled": False, "first_wave": 3, "p_band": [0.005, 0.2], "delta_band": None,
            "derive_epochs": False, "derive_check": 1, "expected_extension": 0.4}


class LeanError(ValueError):
    """A ``lean:`` setting that cannot be used; the message names the key."""


@dataclass(frozen=True)
class LeanSettings:
    enabled: bool
    repetitions: int          # the study's `repetitions`: what a configuration gets at most
    first_wave: int           # what every mutant gets first (== repetitions when lean is off)
    p_band: tuple[float, float]
    delta_band: tuple[float, float] | None
    derive_epochs: bool
    derive_check: int
    expected_extension: float

    @property
    def adaptive(self) -> bool:
        """True when some repetitions wait for the first wave's decision."""
        return self.enabled and self.first_wave < self.repetitions

    @property
    def design(self) -> str:
        """``lean`` or ``full``: the name the footprint table and the report use."""
        return "lean" if self.enabled else "full"


def _band(value, key: str) -> tuple[float, float] | None:
    if value is None:
        return None
    low, high = (float(v) for v in value)
    if not low < high:
        raise LeanError(f"lean.{key}: [{low:g}, {high:g}] is not a band: the low end must be below the high end")
    return low, high


def lean_settings(config: dict) -> LeanSettings:
    """The checked lean settings of a (schema-validated) study config."""
    raw = {**DEFAULTS, **(config.get("lean") or {})}
    repetitions = int(config.get("repetitions", 3))
    first_wave = int(raw["first_wave"])
    enabled = bool(raw["enabled"])
    if enabled and first_wave > repetitions:
        raise LeanError(f"lean.first_wave: {first_wave} is more than repetitions ({repetitions}); "
                        f"allowed: 2..{repetitions}")
    return LeanSettings(
        enabled=enabled,
        repetitions=repetitions,
        first_wave=first_wave if enabled else repetitions,
        p_band=_band(raw["p_band"], "p_band"),
        delta_band=_band(raw["delta_band"], "delta_band"),
        derive_epochs=enabled and bool(raw["derive_epochs"]),
        derive_check=int(raw["derive_check"]),
        expected_extension=float(raw["expected_extension"]),
    )
