"""The phase-marks channel between a training process and its run wrapper.

The wrapper (:mod:`greenhp.runner`) opens a pipe per training process, passes its write end to the
child (file descriptor number in ``GREENHP_MARKS_FD``) and reads the other end in a thread
(:class:`MarkListener`): each line is checked (:class:`MarkGate`) and, when accepted, every energy
meter is read at once (:meth:`greenhp.energy.EnergyMonitor.mark`). The child (:class:`MarkWriter`)
writes one JSON line per mark: ``{"name": ..., "t": <unix time>, "epoch": ..., "metric": ...}``. One
``os.write`` of a line shorter than PIPE_BUF is atomic, costs a few microseconds and never waits for
the meters.

The child runs the user's code, which can write anything to the descriptor, so the wrapper trusts
nothing it reads (docs/subjects.md, "Phase marks"). A mark is accepted only when

- it is one JSON object of at most MAX_LINE bytes whose ``name`` is one of MARK_NAMES;
- the harness marks (``start``, ``run_start``, ``data_ready``, ``run_end``) come once each, and all
  marks come in phase order (``start`` < ``run_start`` < ``data_ready`` < ``epoch`` < ``run_end``);
- an ``epoch`` mark's ``epoch`` is a positive integer, above every epoch accepted before (a repeat
  is a duplicate: the first is kept), and at most the run's epochs when the run has an ``epochs``
  hyperparameter; ``epochs``, when given, is that number; ``metric`` and ``loss`` are finite numbers
  (or NaN/inf as the writer encodes them: the value is then left empty and listed in ``not_finite``);
  ``metric_name`` is a string of at most MAX_NAME characters; ``t`` is a finite number;
- fewer than MAX_EPOCH_MARKS epoch marks were accepted before it (the cap).

Everything else is dropped and counted per reason, with a few examples; the counts go into the run
record (:meth:`MarkGate.summary`), and :func:`settle` adds a note to a run whose marks do not cover
its epochs.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from typing import Any, Callable

ENV_FD = "GREENHP_MARKS_FD"
MAX_LINE = 4000  # below PIPE_BUF (4096 on Linux): one write, never interleaved
#: Epoch marks stored per training process; the rest are counted, not stored. Each stored mark costs
#: one reading of every meter in the wrapper (29 us with the CPU-time estimate, about 3.6 ms for an
#: NVML counter on an H100) and about 1.4 KB of run record, so 1,000 of them cost at most ~4 s of
#: wrapper-thread time during the run and ~1.4 MB of record: far more epochs than any subject trains
#: for, far less than a per-step mark would cost (200,000 marks made a 286 MB record).
MAX_EPOCH_MARKS = 1000
MAX_NAME = 64  # characters of a metric_name
MAX_EXAMPLES = 5  # rejected lines kept as examples, each cut to EXAMPLE_CHARS
EXAMPLE_CHARS = 200
#: The marks a training process may send, in phase order (greenhp.train sends all but ``epoch``,
#: which comes from RunContext.epoch_done).
MARK_NAMES = ("start", "run_start", "data_ready", "epoch", "run_end")
_RANK = {name: i for i, name in enumerate(MARK_NAMES)}
NONFINITE = {"nan": "nan", "inf": "inf", "-inf": "-inf"}  # how MarkWriter sends a NaN/inf float
#: How long the wrapper waits, once every training process has exited, for the channels to reach
#: end of file (a process the training forked may hold one open); then it stops reading.
JOIN_S = 2.0


def _encode(value: Any) -> Any:
    """A field value for the JSON line: NaN/inf as the strings "nan"/"inf"/"-inf" (strict JSON has
    no such numbers), anything JSON cannot hold as its (shortened) repr, so a mark never fails."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


class MarkWriter:
    """Child side. A writer without a channel (``fd`` None) does nothing."""

    def __init__(self, fd: int | None):
        self.fd = fd
        self.sent = 0

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "MarkWriter":
        value = (os.environ if environ is None else environ).get(ENV_FD, "")
        return cls(int(value) if value.strip().isdigit() else None)

    @property
    def enabled(self) -> bool:
        return self.fd is not None

    def mark(self, name: str, **fields: Any) -> None:
        if self.fd is None:
            return
        msg = {"name": name, "t": time.time()}
        for k, v in fields.items():
            if v is not None:
                msg[k] = _encode(v)
        line = (json.dumps(msg, separators=(",", ":"), default=lambda o: repr(o)[:100]) + "\n").encode()
        if len(line) > MAX_LINE:
            line = (json.dumps({"name": name, "t": msg["t"], "truncated": True}) + "\n").encode()
        try:
            os.write(self.fd, line)
            self.sent += 1
        except OSError:  # the wrapper is gone (the process dies with it) or closed the channel
            self.fd = None


# -- the check at entry -----------------------------------------------------------------------------

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _show(v: Any) -> str:
    text = repr(v)
    return (text[:60] + "...") if len(text) > 60 else text


def _typed(v: Any) -> str:
    return f"{_show(v)} ({type(v).__name__})"


class Rejected(Exception):
    """A mark the gate drops: ``key`` is its reason's fixed name (counted), ``detail`` the specifics."""

    def __init__(self, key: str, detail: str):
        super().__init__(detail)
        self.key, self.detail = key, detail


class MarkGate:
    """The check of one training process's marks as they arrive (the rules in the module doc).

    ``epochs``: the run's number of epochs (its ``epochs`` hyperparameter), or None when it has none;
    ``cap``: the most epoch marks to accept. :meth:`admit` returns ``(name, info)`` for an accepted
    mark (``info``: the checked fields, ready for ``EnergyMonitor.mark``) or None for a dropped one.
    """

    def __init__(self, epochs: int | None = None, cap: int = MAX_EPOCH_MARKS):
        self.epochs = int(epochs) if _is_int(epochs) and epochs >= 1 else None
        self.cap = int(cap)
        self.received = 0
        self.accepted = 0
        self.epoch_marks: list[int] = []
        self._epoch_set: set[int] = set()
        self.reasons: dict[str, int] = {}
        self.examples: list[dict[str, str]] = []
        self.not_finite: dict[str, list[int]] = {}
        self._seen: set[str] = set()
        self._rank = -1

    # reasons are fixed strings (never text from the child), so the counts stay a small dict
    def reject(self, key: str, detail: str, line: bytes | str) -> None:
        self.reasons[key] = self.reasons.get(key, 0) + 1
        if len(self.examples) < MAX_EXAMPLES:
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
            self.examples.append({"reason": detail, "line": text[:EXAMPLE_CHARS]})

    def admit(self, line: bytes) -> tuple[str, dict[str, Any]] | None:
        self.received += 1
        try:
            name, info = self._check(line)
        except Rejected as r:
            self.reject(r.key, r.detail, line)
            return None
        self.accepted += 1
        return name, info

    def _check(self, line: bytes) -> tuple[str, dict[str, Any]]:
        if len(line) > MAX_LINE:
            raise Rejected("line too long", f"a line of {len(line)} bytes (at most {MAX_LINE})")
        try:
            msg = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            raise Rejected("not a JSON object", "not JSON") from None
        if not isinstance(msg, dict):
            raise Rejected("not a JSON object", f"a JSON {type(msg).__name__}, not an object")
        name = msg.get("name")
        if not isinstance(name, str) or name not in _RANK:
            raise Rejected("unknown mark name", f"name {_typed(name)} is not one of {', '.join(MARK_NAMES)}")
        if name != "epoch" and name in self._seen:
            raise Rejected("duplicate mark", f"a second {name} mark")
        if _RANK[name] < self._rank:
            raise Rejected("out of phase order", f"{name} after {MARK_NAMES[self._rank]}")
        info: dict[str, Any] = {}
        if "t" in msg:
            if not _is_finite(msg["t"]):
                raise Rejected("field of the wrong type", f"t = {_typed(msg['t'])} is not a finite number")
            info["t_child"] = msg["t"]
        not_finite: list[str] = []
        if name == "epoch":
            epoch = self._epoch(msg)
            info["epoch"] = epoch
            if "epochs" in msg:
                n = msg["epochs"]
                if not _is_int(n) or n < 1:
                    raise Rejected("field of the wrong type", f"epochs = {_typed(n)} is not a positive integer")
                if self.epochs is not None and n != self.epochs:
                    raise Rejected("epochs is not the run's", f"epochs = {n}, but the run trains {self.epochs}")
                info["epochs"] = n
            if "metric_name" in msg:
                m = msg["metric_name"]
                if not isinstance(m, str) or not m or len(m) > MAX_NAME:
                    raise Rejected("field of the wrong type",
                                   f"metric_name = {_typed(m)} is not a string of 1 to {MAX_NAME} characters")
                info["metric_name"] = m
            for key in ("metric", "loss"):
                if key not in msg:
                    continue
                v = msg[key]
                if isinstance(v, str) and v in NONFINITE:
                    not_finite.append(key)
                elif not _is_finite(v):
                    raise Rejected("field of the wrong type", f"{key} = {_typed(v)} is not a finite number")
                else:
                    info[key] = v
            if len(self.epoch_marks) >= self.cap:
                raise Rejected("over the cap", f"more than {self.cap} epoch marks")
            if "epochs" not in info and self.epochs is not None:
                info["epochs"] = self.epochs
            self.epoch_marks.append(epoch)
            self._epoch_set.add(epoch)
            for key in not_finite:
                self.not_finite.setdefault(key, []).append(epoch)
        self._seen.add(name)
        self._rank = _RANK[name]
        return name, info

    def _epoch(self, msg: dict) -> int:
        if "epoch" not in msg:
            raise Rejected("epoch not a positive integer", "an epoch mark without an epoch number"
                           + (" (the writer truncated a line too long)" if msg.get("truncated") else ""))
        e = msg["epoch"]
        if not _is_int(e):
            raise Rejected("epoch not a positive integer", f"epoch = {_typed(e)} is not an integer")
        if e < 1:
            raise Rejected("epoch not a positive integer", f"epoch = {e} (epochs count from 1)")
        if self.epochs is not None and e > self.epochs:
            raise Rejected("epoch beyond the run's epochs", f"epoch {e} of a run of {self.epochs} epochs")
        if e in self._epoch_set:
            raise Rejected("duplicate epoch", f"epoch {e} marked again (the first is kept)")
        if self.epoch_marks and e < self.epoch_marks[-1]:
            raise Rejected("epoch not increasing", f"epoch {e} after epoch {self.epoch_marks[-1]}")
        return e

    def summary(self) -> dict[str, Any]:
        """What the run record keeps of the check (greenhp.runner puts it beside the phases)."""
        rejected = sum(self.reasons.values())
        out: dict[str, Any] = {
            "marks_received": self.received, "marks_cap": self.cap,
            "marks_rejected": {"count": rejected, "reasons": dict(sorted(self.reasons.items())),
                               "examples": list(self.examples)},
        }
        if self.not_finite:
            out["not_finite"] = {k: list(v) for k, v in sorted(self.not_finite.items())}
        return out


class MarkListener(threading.Thread):
    """Wrapper side: reads lines from ``fd`` until end of file (or :meth:`finish`), checks each with
    ``gate`` and calls ``on_mark(label, name, **info)`` for the accepted ones. Bounded whatever the
    child writes: a line longer than MAX_LINE is skipped without being kept, at most ``gate.cap``
    epoch marks reach ``on_mark`` (each reads every meter), and :meth:`finish` stops it."""

    def __init__(self, fd: int, label: str, on_mark: Callable[..., Any], gate: MarkGate | None = None):
        super().__init__(name=f"greenhp-marks-{label}", daemon=True)
        self.fd, self.label, self.on_mark = fd, label, on_mark
        self.gate = gate if gate is not None else MarkGate()
        self.received = 0  # marks accepted and passed on
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def bad_lines(self) -> int:
        """Lines that were not one JSON object."""
        return self.gate.reasons.get("not a JSON object", 0)

    def run(self) -> None:
        with os.fdopen(self.fd, "rb", buffering=0) as f:
            buf, skipping = b"", False
            while not self._stopped:
                chunk = f.read(65536)
                if not chunk:
                    break
                start = 0
                while not self._stopped:
                    nl = chunk.find(b"\n", start)
                    if nl < 0:
                        if not skipping:
                            buf += chunk[start:]
                            if len(buf) > MAX_LINE:   # never keep more than one line's worth
                                self._handle(buf)      # rejected as too long
                                buf, skipping = b"", True
                        break
                    if skipping:
                        skipping = False
                    else:
                        self._handle(buf + chunk[start:nl])
                    buf, start = b"", nl + 1
            if buf.strip() and not skipping:
                self._handle(buf)

    def _handle(self, line: bytes) -> None:
        if not line.strip():
            return
        with self._lock:
            if self._stopped:
                return
            admitted = self.gate.admit(line)
            if admitted is None:
                return
            name, info = admitted
            self.received += 1
            try:
                self.on_mark(self.label, name, **info)
            except Exception as err:  # a meter that fails to read: counted, the thread goes on
                self.gate.reject("meters not read", f"{type(err).__name__}: {err}", line)

    def finish(self, deadline: float) -> dict[str, Any]:
        """Wait until ``deadline`` (time.monotonic) for end of file, then stop reading; returns the
        gate's summary, with ``marks_unread`` when the channel was still open (lines after that are
        neither read nor counted)."""
        self.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._stopped = True
            out = self.gate.summary()
        if self.is_alive():
            out["marks_unread"] = True
        return out


# -- what the record says about a process's marks ------------------------------------------------------

def epochs_run_problem(value: Any, epochs: int | None) -> str | None:
    """Why ``TrainResult.epochs_run`` cannot be recorded (not an integer, or not the run's
    ``epochs``), or None. None (not reported: the run did not finish) is no problem."""
    if value is None:
        return None
    if not _is_int(value):
        return f"TrainResult.epochs_run = {_typed(value)} is not an integer"
    if epochs is not None and value != epochs:
        return f"TrainResult.epochs_run = {value}, but the run trains {epochs} epochs"
    if value < 1:
        return f"TrainResult.epochs_run = {value} is not a positive integer"
    return None


def _epoch_list(epochs: list[int], limit: int = 5) -> str:
    shown = ", ".join(str(e) for e in epochs[:limit])
    return shown + (f" and {len(epochs) - limit} more" if len(epochs) > limit else "")


def settle(phase_set: dict[str, Any], *, epochs: int | None, epochs_run: Any = None,
           status: str | None = "ok") -> str | None:
    """Say in ``phase_set`` (one process's entry of the record's ``energy.phases``, holding its
    :meth:`MarkGate.summary`) what its marks leave out, and return that ``note`` (None: nothing).

    ``epochs``: the run's epochs hyperparameter (None when it has none; ``epochs_run`` then gives the
    number expected, when it is a positive integer). For an ok run: no training window, no epoch mark
    at all, or epoch marks that do not cover every epoch (then ``training`` is set to None with a
    ``training_reason``: a window ending at the last mark is not the training). For every run:
    rejected marks, NaN/inf values, a channel still open when the wrapper stopped reading, and an
    ``epochs_run`` that is not the run's epochs.
    """
    parts = []
    expected = epochs
    run_problem = epochs_run_problem(epochs_run, epochs)
    if expected is None and epochs_run is not None and run_problem is None:
        expected = epochs_run
    if status == "ok":
        marked = len(phase_set.get("epochs") or [])
        if phase_set.get("training") is None:
            parts.append("no training window: " + (phase_set.get("reason") or "no training marks"))
        elif expected and marked == 0:
            parts.append(f"no epoch marks for its {expected} epochs (no per-epoch energy; the training "
                         "window runs from the training start to run_end)")
        elif expected and marked < expected:
            why = (f"epoch marks cover {marked} of {expected} epochs (last marked: "
                   f"{phase_set['epochs'][-1].get('epoch')})")
            phase_set["training"] = None
            phase_set["training_reason"] = why + ": the last epoch mark is not the end of training"
            parts.append(why + ": no training window")
    rejected = phase_set.get("marks_rejected") or {}
    if rejected.get("count"):
        reasons = ", ".join(f"{k}: {n}" for k, n in sorted((rejected.get("reasons") or {}).items(),
                                                           key=lambda kv: (-kv[1], kv[0])))
        parts.append(f"{rejected['count']} mark(s) rejected ({reasons})")
    for key, where in sorted((phase_set.get("not_finite") or {}).items()):
        parts.append(f"{key} not finite at epoch(s) {_epoch_list(where)} (left empty)")
    if phase_set.get("marks_unread"):
        parts.append(f"the marks channel was still open {JOIN_S:g} s after the training ended (held by a "
                     "process it started?): later marks were not read")
    if run_problem:
        parts.append(run_problem + ": not recorded")
    note = "; ".join(parts) or None
    phase_set["note"] = note
    return note


def open_channel() -> tuple[int, int]:
    """A pipe for one child: (read end for the wrapper, inheritable write end for the child)."""
    r, w = os.pipe()
    os.set_inheritable(w, True)
    return r, w
