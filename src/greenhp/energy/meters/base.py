"""The meter interface: what every energy backend implements, and what the monitor calls.

A :class:`Meter` measures one or more domains (``gpu``, ``cpu``, ``dram``) over a window it owns:

- ``begin(window)`` takes its own zero (counter values, a sampler, CPU time) at the window's start;
- ``read()`` gives a :class:`Reading` per domain: joules since ``begin``, the method, or None with
  the reason (the monitor calls it at every phase mark);
- ``end(t_end, cpu_seconds)`` closes the window and gives a :class:`Measurement` per domain: the
  whole window's joules and method, or None with the reason, plus the backend's own record fields
  (cross-checks, flags).

A domain nobody can measure is answered by an :class:`UnavailableMeter`, which says why. The monitor
loops over a :class:`MeterSet` (one meter per domain, each domain exactly once) and knows no backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence, TextIO

DOMAINS = ("gpu", "cpu", "dram")
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Reading:
    """One meter read "now": joules since the window began, or None with a reason."""

    domain: str
    value_j: float | None
    method: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value_j": self.value_j, "method": self.method, "reason": self.reason}


@dataclass(frozen=True)
class Measurement:
    """One domain's energy over a whole window: ``energy_j`` and the ``method`` that obtained it, or
    None, method ``unavailable`` and the ``reason``. ``details`` are the backend's own fields of the
    record's domain mapping (``hint``, cross-checks, flags, ``estimated``), in record order."""

    domain: str
    energy_j: float | None
    method: str
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"Measurement: domain {self.domain!r} is not one of {', '.join(DOMAINS)}")
        if (self.energy_j is None) != (self.method == UNAVAILABLE):
            raise ValueError(f"Measurement of {self.domain}: energy_j {self.energy_j!r} with method "
                             f"{self.method!r} (a missing energy is method {UNAVAILABLE!r}, and only it)")
        if self.energy_j is None and not self.reason:
            raise ValueError(f"Measurement of {self.domain}: not measured, but no reason given")

    @property
    def estimated(self) -> bool:
        return bool(self.details.get("estimated", False))

    def to_record(self) -> dict[str, Any]:
        """The run record's ``energy.<domain>`` mapping."""
        return {"energy_j": self.energy_j, "method": self.method, "reason": self.reason, **self.details}


def unavailable(domain: str, reason: str, hint: str | None = None, **details: Any) -> Measurement:
    """A domain not measured over the window, with its reason (and a hint how to get it, if any)."""
    return Measurement(domain, None, UNAVAILABLE, reason, {**({"hint": hint} if hint is not None else {}), **details})


@dataclass(frozen=True)
class Window:
    """What a meter gets at ``begin``: the window's start on the monitor's ``clock``, and for GPU
    meters where to write the power timeline and how to label a process (pair attribution)."""

    t_start: float
    clock: Callable[[], float]
    timeline: TextIO | None = None
    pid_label: Callable[[int], str | None] | None = None


@dataclass(frozen=True)
class OpenContext:
    """What an opener (the registry's factory of a setting, :mod:`greenhp.energy.meters`) gets.

    ``cfg`` is the :class:`~greenhp.energy.config.EnergyConfig`; ``modules`` maps a backend library's
    import name (``pynvml``, ``pyRAPL``, ...) to a stand-in injected by tests (absent: import the real
    one); ``cpu_seconds`` returns the tracked processes' CPU seconds now (None with a reason)."""

    cfg: Any
    gpu_index: int | None = None
    powercap_root: str = "/sys/class/powercap"
    rapl_opener: Callable[[str], Any] = open      # opens a powercap file (tests inject permission errors)
    modules: Mapping[str, Any] = field(default_factory=dict)
    cpu_seconds: Callable[[], tuple[float | None, str | None]] = lambda: (None, "no process")


class Meter(ABC):
    """Base class of every energy backend. Subclasses set ``domains`` and implement ``read`` and
    ``end``; the rest has defaults for a meter without them."""

    #: the domains this meter answers for (each ``read``/``end`` returns exactly these keys)
    domains: tuple[str, ...] = ()
    #: why this meter measures nothing (UnavailableMeter), else None
    reason: str | None = None
    #: why ``idle_power`` gives nothing (the record's ``idle.cpu_reason``)
    idle_reason: str = "this meter has no idle reading"

    def begin(self, window: Window) -> None:
        """Take this meter's zero at the window's start (and start its pollers)."""

    @abstractmethod
    def read(self) -> dict[str, Reading]:
        """Joules per domain since ``begin``, now."""

    def read_at(self, t: float) -> dict[str, Reading] | None:
        """After ``end``: a better reading for the earlier moment ``t`` (e.g. a power integral from all
        samples), or None when the readings taken at the time stand."""
        return None

    @abstractmethod
    def end(self, t_end: float, cpu_seconds: Mapping[str, float] | None) -> dict[str, Measurement]:
        """Close the window at ``t_end``; ``cpu_seconds`` (label -> CPU seconds, from ``os.wait4``) is
        what the caller knows of the measured processes' CPU time."""

    def idle_power(self, seconds: float) -> dict[str, Any] | None:
        """Idle power over ``seconds`` (blocking, before the window): the record's ``idle`` keys
        (``<domain>_w``, ``<domain>_method``), or None (``idle_reason`` says why)."""
        return None

    def environment(self) -> dict[str, Any]:
        """Keys this meter adds to the environment snapshot (e.g. ``rapl_zones``)."""
        return {}

    def close(self) -> None:
        """Release the backend."""


class UnavailableMeter(Meter):
    """A domain that is not measured, and why (``hint``: how to get it measured)."""

    def __init__(self, domain: str, reason: str, hint: str | None = None,
                 environment: Mapping[str, Any] | None = None):
        if not reason:
            raise ValueError(f"UnavailableMeter({domain!r}): a reason is required")
        self.domains = (domain,)
        self.domain, self.reason, self.hint = domain, reason, hint
        self.idle_reason = reason
        self._environment = dict(environment or {})

    def read(self) -> dict[str, Reading]:
        return {self.domain: Reading(self.domain, None, UNAVAILABLE, self.reason)}

    def end(self, t_end: float, cpu_seconds: Mapping[str, float] | None) -> dict[str, Measurement]:
        return {self.domain: unavailable(self.domain, self.reason, hint=self.hint)}

    def environment(self) -> dict[str, Any]:
        return dict(self._environment)


class MeterSet:
    """The meters of one monitor: every domain of :data:`DOMAINS` answered by exactly one meter.
    The monitor calls each method on all of them, in order (GPU first), and gets results per domain."""

    def __init__(self, meters: Sequence[Meter]):
        self.meters = list(meters)
        self._by_domain: dict[str, Meter] = {}
        for m in self.meters:
            for d in m.domains:
                if d not in DOMAINS:
                    raise ValueError(f"meters: domain {d!r} of {type(m).__name__} is unknown")
                if d in self._by_domain:
                    raise ValueError(f"meters: domain {d!r} of {type(m).__name__} is also measured by "
                                     f"{type(self._by_domain[d]).__name__}")
                self._by_domain[d] = m
        missing = [d for d in DOMAINS if d not in self._by_domain]
        if missing:
            raise ValueError(f"meters: no meter answers for {', '.join(missing)}")

    def __iter__(self) -> Iterator[Meter]:
        return iter(self.meters)

    def for_domain(self, domain: str) -> Meter:
        return self._by_domain[domain]

    def begin(self, window: Window) -> None:
        for m in self.meters:
            m.begin(window)

    def read(self) -> dict[str, Reading]:
        return self._ordered(lambda m: m.read())

    def end(self, t_end: float, cpu_seconds: Mapping[str, float] | None) -> dict[str, Measurement]:
        return self._ordered(lambda m: m.end(t_end, cpu_seconds))

    def environment(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for m in self.meters:
            out.update(m.environment())
        return out

    def close(self) -> None:
        for m in self.meters:
            m.close()

    def _ordered(self, call: Callable[[Meter], dict]) -> dict:
        got: dict = {}
        for m in self.meters:
            res = call(m)
            if set(res) != set(m.domains):
                raise ValueError(f"{type(m).__name__} answered for {sorted(res)}, not its domains {list(m.domains)}")
            got.update(res)
        return {d: got[d] for d in DOMAINS}
