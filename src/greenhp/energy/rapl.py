"""RAPL energy over a Linux powercap tree, with wraparound counting.

Tree layout (``/sys/class/powercap``)::

    intel-rapl:0/            name = package-0   (one per socket)
        energy_uj, max_energy_range_uj
        intel-rapl:0:0/      name = core        (inside the package: never added to it)
        intel-rapl:0:1/      name = uncore      (inside the package: never added to it)
        intel-rapl:0:2/      name = dram        (summed into the dram domain)
    intel-rapl:1/            name = psys        (platform: overlaps package+dram, kept apart)

Counters are monotonic microjoule values that wrap at ``max_energy_range_uj``. A poller thread reads
every zone often enough that at most one wrap can happen between two reads, so a negative step is
always exactly one wrap; over a long run any number of wraps is counted.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

ZONE_RE = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")
MAX_POWER_W = 1000.0          # conservative upper bound on one zone's power
MAX_POLL_PERIOD_S = 1.0
MIN_POLL_PERIOD_S = 0.05
FALLBACK_RANGE_UJ = 2**32     # used only if max_energy_range_uj is unreadable (flagged)

PERMISSION_HINT = ("sudo chmod o+r {root}/intel-rapl:*/energy_uj {root}/intel-rapl:*/*/energy_uj "
                   "(until reboot) or run as root")


def default_opener(path: str):
    return open(path, "r")


@dataclass
class Zone:
    path: str
    name: str
    kind: str               # package | dram | psys | core | uncore | other
    socket: int | None
    max_range_uj: int
    range_known: bool = True
    last_uj: int | None = None
    total_uj: int = 0
    wraps: int = 0

    def label(self) -> str:
        return f"{os.path.basename(self.path)}({self.name})"


def _kind(name: str) -> str:
    if name.startswith("package"):
        return "package"
    if name in ("dram", "core", "uncore", "psys"):
        return name
    return "other"


class RaplReader:
    """Reads package / dram / psys energy over a window.

    ``opener`` (path -> file object) is injectable so tests can simulate permission errors even
    when running as root; ``clock`` is unused for correctness (deltas come from the counters).
    """

    def __init__(self, root: str = "/sys/class/powercap", opener: Callable[[str], Any] = default_opener,
                 poll_period_s: float | None = None):
        self.root = root
        self.opener = opener
        self.zones: list[Zone] = []
        self.reason: str | None = None
        self.hint: str | None = None
        self.flags: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._poll_period_override = poll_period_s
        self.polls = 0

    # -- discovery ----------------------------------------------------------------------------
    def _read_int(self, path: str) -> int:
        with self.opener(path) as f:
            return int(f.read().strip())

    def _read_str(self, path: str) -> str:
        with self.opener(path) as f:
            return f.read().strip()

    def discover(self) -> bool:
        """Find zones and check the counters are readable. Sets ``reason``/``hint`` when not."""
        if not os.path.isdir(self.root):
            self.reason = f"RAPL not present: {self.root} missing"
            return False
        entries = []
        for top in sorted(os.listdir(self.root)):
            m = ZONE_RE.match(top)
            if not m or m.group(2) is not None:
                continue
            entries.append((int(m.group(1)), os.path.join(self.root, top)))
            for sub in sorted(os.listdir(os.path.join(self.root, top))):
                ms = ZONE_RE.match(sub)
                if ms and ms.group(2) is not None:
                    entries.append((int(m.group(1)), os.path.join(self.root, top, sub)))
        if not entries:
            self.reason = f"RAPL not present: no intel-rapl zones under {self.root}"
            return False
        zones = []
        for top_idx, path in entries:
            try:
                name = self._read_str(os.path.join(path, "name"))
            except PermissionError as e:
                return self._denied(e, os.path.join(path, "name"))
            except OSError:
                name = "unknown"
            kind = _kind(name)
            socket = None
            if kind in ("package", "dram", "core", "uncore"):
                m = re.match(r"package-(\d+)$", name)
                socket = int(m.group(1)) if m else top_idx
            try:
                rng, known = self._read_int(os.path.join(path, "max_energy_range_uj")), True
            except (OSError, ValueError):
                rng, known = FALLBACK_RANGE_UJ, False
                self.flags.append(f"max_energy_range_uj unreadable for {path}: wrap assumed at 2^32 uJ")
            zones.append(Zone(path=path, name=name, kind=kind, socket=socket, max_range_uj=rng,
                              range_known=known))
        for z in zones:
            p = os.path.join(z.path, "energy_uj")
            try:
                self._read_int(p)
            except PermissionError as e:
                return self._denied(e, p)
            except FileNotFoundError:
                self.reason = f"RAPL counter absent: {p}"
                return False
            except (OSError, ValueError) as e:
                self.reason = f"RAPL counter unreadable: {p}: {type(e).__name__}: {e}"
                return False
        self.zones = zones
        return True

    def _denied(self, e: BaseException, path: str) -> bool:
        self.reason = f"permission denied: {path}"
        self.hint = PERMISSION_HINT.format(root=self.root)
        return False

    def poll_period_s(self) -> float:
        if self._poll_period_override is not None:
            return self._poll_period_override
        if not self.zones:
            return MAX_POLL_PERIOD_S
        # time for the smallest counter to wrap at MAX_POWER_W, with a factor 4 margin
        t_wrap = min(z.max_range_uj for z in self.zones) / 1e6 / MAX_POWER_W
        return max(MIN_POLL_PERIOD_S, min(MAX_POLL_PERIOD_S, t_wrap / 4))

    # -- counting -----------------------------------------------------------------------------
    def poll(self) -> None:
        """Read every zone once and accumulate (counts one wrap per negative step)."""
        with self._lock:
            for z in self.zones:
                try:
                    v = self._read_int(os.path.join(z.path, "energy_uj"))
                except (OSError, ValueError) as e:
                    self.flags.append(f"read failed {z.path}: {type(e).__name__}")
                    continue
                if z.last_uj is not None:
                    d = v - z.last_uj
                    if d < 0:
                        d += z.max_range_uj
                        z.wraps += 1
                    z.total_uj += d
                z.last_uj = v
            self.polls += 1

    def start(self, thread: bool = True) -> None:
        for z in self.zones:
            z.last_uj, z.total_uj, z.wraps = None, 0, 0
        self.poll()
        if thread:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="greenhp-rapl", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        period = self.poll_period_s()
        while not self._stop.wait(period):
            self.poll()

    def stop(self) -> dict[str, Any]:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self.poll()
        return self.totals()

    def totals(self) -> dict[str, Any]:
        """Joules per domain: package (sum over sockets), dram (sum of dram subzones), psys apart."""
        pk = [z for z in self.zones if z.kind == "package"]
        dr = [z for z in self.zones if z.kind == "dram"]
        ps = [z for z in self.zones if z.kind == "psys"]
        inner = [z for z in self.zones if z.kind in ("core", "uncore")]

        def j(zs):
            return sum(z.total_uj for z in zs) / 1e6 if zs else None

        return {
            "package_j": j(pk),
            "dram_j": j(dr),
            "psys_j": j(ps),
            "per_zone_j": {z.label(): z.total_uj / 1e6 for z in self.zones},
            "wraps": {z.label(): z.wraps for z in self.zones if z.wraps},
            "sockets": sorted({z.socket for z in pk if z.socket is not None}),
            "inner_zones_not_summed": [z.label() for z in inner],
            "has_dram": bool(dr),
            "has_package": bool(pk),
            "polls": self.polls,
            "poll_period_s": self.poll_period_s(),
        }

    def instant_power_w(self, seconds: float) -> dict[str, float | None]:
        """Average package and dram power over a short blocking window (for the idle baseline)."""
        before = {z.path: z.total_uj for z in self.zones}
        self.poll()
        before = {z.path: z.total_uj for z in self.zones}
        t0 = time.monotonic()
        end = t0 + seconds
        while True:
            now = time.monotonic()
            if now >= end:
                break
            time.sleep(min(self.poll_period_s(), end - now))
            self.poll()
        dt = time.monotonic() - t0
        out: dict[str, float | None] = {}
        for kind in ("package", "dram"):
            zs = [z for z in self.zones if z.kind == kind]
            out[kind] = (sum(z.total_uj - before[z.path] for z in zs) / 1e6 / dt) if zs and dt > 0 else None
        return out

    def zone_list(self) -> list[dict[str, Any]]:
        return [{"zone": os.path.basename(z.path), "name": z.name, "kind": z.kind, "socket": z.socket,
                 "max_energy_range_uj": z.max_range_uj} for z in self.zones]
