"""The phase-marks channel between a training process and its run wrapper.

The wrapper (:mod:`greenhp.runner`) opens a pipe per training process, passes its write end to the
child (file descriptor number in ``GREENHP_MARKS_FD``) and reads the other end in a thread
(:class:`MarkListener`): for each line it reads every energy meter at once
(:meth:`greenhp.energy.EnergyMonitor.mark`). The child (:class:`MarkWriter`) writes one JSON line
per mark: ``{"name": ..., "t": <unix time>, "epoch": ..., "metric": ...}``. One ``os.write`` of a
line shorter than PIPE_BUF is atomic, costs a few microseconds and never waits for the meters.
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
            if isinstance(v, float) and not math.isfinite(v):
                v = None  # strict JSON; a NaN loss is reported by the training itself
            if v is not None:
                msg[k] = v
        line = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
        if len(line) > MAX_LINE:
            line = (json.dumps({"name": name, "t": msg["t"], "truncated": True}) + "\n").encode()
        try:
            os.write(self.fd, line)
            self.sent += 1
        except OSError:  # the wrapper is gone (the process dies with it) or closed the channel
            self.fd = None


class MarkListener(threading.Thread):
    """Wrapper side: reads JSON lines from ``fd`` until end of file and calls
    ``on_mark(label, name, **info)`` for each; malformed lines are counted, not fatal."""

    FIELDS = ("epoch", "epochs", "metric_name", "metric", "loss")

    def __init__(self, fd: int, label: str, on_mark: Callable[..., Any]):
        super().__init__(name=f"greenhp-marks-{label}", daemon=True)
        self.fd, self.label, self.on_mark = fd, label, on_mark
        self.received = 0
        self.bad_lines = 0

    def run(self) -> None:
        with os.fdopen(self.fd, "rb", buffering=0) as f:
            buf = b""
            while True:
                chunk = f.read(65536)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    self._handle(line)
            if buf.strip():
                self._handle(buf)

    def _handle(self, line: bytes) -> None:
        try:
            msg = json.loads(line)
            name = str(msg["name"])
        except (ValueError, KeyError, TypeError):
            self.bad_lines += 1
            return
        info = {k: msg[k] for k in self.FIELDS if k in msg}
        if "t" in msg:
            info["t_child"] = msg["t"]
        self.received += 1
        self.on_mark(self.label, name, **info)


def open_channel() -> tuple[int, int]:
    """A pipe for one child: (read end for the wrapper, inheritable write end for the child)."""
    r, w = os.pipe()
    os.set_inheritable(w, True)
    return r, w
