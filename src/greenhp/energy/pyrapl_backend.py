"""pyRAPL as an alternative CPU/DRAM backend (``cpu_meter: pyrapl``).

pyRAPL (last release 2019) has no counter-wraparound handling: a window long enough to cross a
wrap reads wrong; the result says so in ``flags``. Its import emits warnings (SyntaxWarning on
Python 3.12, pymongo) and ``pyRAPL.setup()`` raises on machines without RAPL: both are caught and
reported as unavailable with a reason.
"""

from __future__ import annotations

import warnings
from typing import Any


class PyRaplBackend:
    def __init__(self, module: Any = None):
        self._module = module
        self.reason: str | None = None
        self.hint: str | None = None
        self._meas = None
        self.import_warnings: list[str] = []

    def open(self) -> bool:
        mod = self._module
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if mod is None:
                    import pyRAPL as mod  # noqa: N813
                mod.setup()
            self.import_warnings = sorted({f"{w.category.__name__}: {w.message}"[:200] for w in caught})
        except ImportError as e:
            self.reason = f"pyRAPL not installed: {e}"
            return False
        except PermissionError as e:
            self.reason = f"pyRAPL: permission denied: {e}"
            self.hint = "RAPL files are root-only on most kernels: sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj"
            return False
        except Exception as e:
            self.reason = f"pyRAPL unavailable: {type(e).__name__}: {e}"
            return False
        self._module = mod
        return True

    def start(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._meas = self._module.Measurement("greenhp")
            self._meas.begin()

    def stop(self) -> dict[str, Any]:
        """Returns package_j / dram_j (None where pyRAPL gave nothing) and flags."""
        out: dict[str, Any] = {"package_j": None, "dram_j": None, "flags": ["pyrapl_no_wraparound_handling"]}
        try:
            self._meas.end()
            res = self._meas.result
        except Exception as e:
            out["error"] = f"pyRAPL measurement failed: {type(e).__name__}: {e}"
            return out
        pkg = getattr(res, "pkg", None)
        dram = getattr(res, "dram", None)
        if pkg:
            out["package_j"] = sum(float(x) for x in pkg) / 1e6
            out["sockets"] = len(pkg)
        if dram:
            out["dram_j"] = sum(float(x) for x in dram) / 1e6
        for v in (pkg or []) + (dram or []):
            if float(v) < 0:
                out["flags"].append("negative_reading_counter_wrapped")
                if out["package_j"] is not None and out["package_j"] < 0:
                    out["package_j"] = None
                if out["dram_j"] is not None and out["dram_j"] < 0:
                    out["dram_j"] = None
                break
        return out
