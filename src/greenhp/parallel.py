"""Run a job's independent parts on the cores Snakemake gave it (a rule's ``threads``).

The analysis jobs (statistics, figures) each spend their time in a few independent parts: the
correlations and the mutant comparisons; one figure and the others. Python threads do not help
(the parts hold the GIL most of the time: measured, no gain on two cores), and one Snakemake job
per part would start Python and load the runs table again for each. A forked process sees
everything the job has already loaded (copy-on-write), so each part after the first costs only
its own work.

``run_parts(parts, workers)`` spreads the parts over ``workers`` lanes: lane 0 runs in this
process, the others in forked child processes; each lane runs its parts in order. With one worker,
or where ``os.fork`` is missing, every part runs here, one after the other. Results come back
pickled through a pipe; a part that raises in a child raises ``PartFailed`` here with the child's
traceback. Children get SIGTERM when this process dies (Linux), so a cancelled job leaves none
behind.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import traceback
from typing import Any, Callable, Mapping

__all__ = ["PartFailed", "blas_threads", "run_parts"]


class PartFailed(RuntimeError):
    """A part raised in a worker process (the message holds its traceback)."""


def blas_threads(n: int = 1):
    """Context manager capping the BLAS/OpenMP thread pools at ``n`` (threadpoolctl), so that a
    job uses the cores it declared; a no-op where threadpoolctl is not installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency in requirements.txt
        return contextlib.nullcontext()
    return threadpool_limits(limits=max(1, int(n)))


def _lanes(names: list[str], workers: int) -> list[list[str]]:
    """Parts dealt round-robin to ``workers`` lanes, in the given order (put the costliest
    first)."""
    lanes: list[list[str]] = [[] for _ in range(max(1, min(workers, len(names))))]
    for i, name in enumerate(names):
        lanes[i % len(lanes)].append(name)
    return lanes


def _child(conn_w: int, parts: Mapping[str, Callable[[], Any]], names: list[str]) -> None:
    """In the forked child: run the lane, send ("ok", results) or ("error", traceback)."""
    from greenhp.procs import set_parent_death_signal

    set_parent_death_signal()
    try:
        payload = ("ok", {name: parts[name]() for name in names})
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        payload = ("error", traceback.format_exc())
    try:
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an unpicklable result is an error too
        data = pickle.dumps(("error", traceback.format_exc()))
    with os.fdopen(conn_w, "wb") as out:
        out.write(data)


def run_parts(parts: Mapping[str, Callable[[], Any]], workers: int = 1) -> dict[str, Any]:
    """Call every part (name -> zero-argument callable) and return {name: result}, using up to
    ``workers`` processes (see the module doc). The order of ``parts`` sets the lanes: with two
    workers the first part runs here while the second runs in a child, the third here after the
    first, and so on."""
    names = list(parts)
    if workers <= 1 or len(names) <= 1 or not hasattr(os, "fork"):
        return {name: parts[name]() for name in names}
    lanes = _lanes(names, workers)
    sys.stdout.flush()
    sys.stderr.flush()
    children = []  # (pid, read end, lane)
    try:
        for lane in lanes[1:]:
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # child
                code = 0
                try:
                    os.close(r)
                    _child(w, parts, lane)
                except BaseException:  # noqa: BLE001
                    code = 1
                finally:
                    os._exit(code)
            os.close(w)
            children.append((pid, r, lane))
        results = {name: parts[name]() for name in lanes[0]}
        while children:
            pid, r, lane = children.pop(0)
            with os.fdopen(r, "rb") as inp:
                data = inp.read()
            _, status = os.waitpid(pid, 0)
            if not data:
                raise PartFailed(f"worker process for {', '.join(lane)} exited "
                                 f"(status {status}) without a result")
            payload = pickle.loads(data)
            if payload[0] != "ok":
                raise PartFailed(f"{', '.join(lane)} failed in a worker process:\n{payload[1]}")
            results.update(payload[1])
        return {name: results[name] for name in names}
    finally:
        for pid, r, _ in children:  # only after an error: stop and reap the ones not read
            with contextlib.suppress(OSError):
                os.close(r)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
