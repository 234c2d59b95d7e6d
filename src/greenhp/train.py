"""The training process: ``python -m greenhp.train --request REQ.json --result RES.json``.

Started by the run wrapper (:mod:`greenhp.runner`) as a child so its energy and CPU time can be
measured on their own. Reads one request, trains the subject, prints per-epoch progress, and writes
a result with the hyperparameters actually used. A NaN/inf loss is a result (status ``diverged``),
not a crash. Exit code 0 whenever a result was written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
import traceback

from greenhp.atomic import write_json
from greenhp.marks import MarkWriter
from greenhp.subjects import resolve
from greenhp.subjects.base import DataMissing, Diverged, RunContext, pick_epoch_metric

MARKS = MarkWriter(None)  # the phase-marks channel to the run wrapper (set in main from the environment)


def cuda_uuid() -> str | None:
    """UUID of the CUDA device this process trains on, as torch reports it (the wrapper checks it
    against the GPU it measures); None where torch cannot say."""
    import torch

    try:
        return str(torch.cuda.get_device_properties(torch.cuda.current_device()).uuid)
    except Exception:
        return None


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was requested but torch sees no CUDA device")
    return device


def make_marker(writer: MarkWriter, metric_name: str, device: str):
    """RunContext.marker for this process: waits for queued GPU work (so a mark's energy reading
    covers the work done before it), then writes the mark; each epoch carries the subject's metric."""
    if not writer.enabled:
        return None
    sync = None
    if device == "cuda":
        import torch

        sync = torch.cuda.synchronize

    def marker(name: str, metrics: dict | None = None, **fields) -> None:
        if sync is not None:
            sync()
        if metrics is not None:
            fields["metric_name"], fields["metric"] = pick_epoch_metric(metrics, metric_name)
        writer.mark(name, **fields)

    return marker


def train(request: dict) -> dict:
    import torch

    threads = int(request.get("threads") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    subject = resolve(request["subject"], {"module": request.get("module")})
    device = resolve_device(request.get("device", "auto"))
    ctx = RunContext(
        device=device,
        seed=int(request["seed"]),
        data=request.get("data") or {},
        log=lambda line: print(line, flush=True),
        max_steps=request.get("max_steps"),
        marker=make_marker(MARKS, subject.metric_name, device),
    )
    print(f"greenhp.train: {subject.name} on {device} seed={ctx.seed} hp={json.dumps(request['hp'])}", flush=True)
    result = {"status": "ok", "device": device, "torch_version": torch.__version__, "pid": os.getpid(),
              "gpu_uuid": cuda_uuid() if device == "cuda" else None, "declared_metric_name": subject.metric_name,
              "schedule_depends_on_epochs": getattr(subject, "schedule_depends_on_epochs", None)}
    if ctx.marker is not None:
        ctx.marker("run_start")
    try:
        out = subject.run(dict(request["hp"]), ctx)
    except Diverged as err:
        print(f"greenhp.train: diverged: {err}", flush=True)
        return {**result, "status": "diverged", "reason": str(err), "metric_name": subject.metric_name,
                "metric_direction": subject.metric_direction}
    if device == "cuda":
        torch.cuda.synchronize()
    if ctx.marker is not None:
        ctx.marker("run_end")
    result = {
        **result,
        "metric_name": out.metric_name,
        "metric_value": out.metric_value,
        "metric_direction": subject.metric_direction,
        "effective": out.effective,
        "epochs_run": out.epochs_run,
        "train_seconds": out.train_seconds,
        "extra": out.extra,
    }
    problem = output_problem(result)
    if problem:
        print(f"greenhp.train: failed: {problem}", flush=True)
        return {**result, "status": "failed", "reason": problem, "metric_value": None, "extra": None}
    return result


def output_problem(result: dict) -> str | None:
    """What the JSON result file would lose or hide: a NaN/inf metric or train_seconds (JSON writes them
    as null), or an ``extra`` that is not JSON-serialisable. The wrapper checks the rest
    (greenhp.runner.result_problem)."""
    value = result.get("metric_value")
    if isinstance(value, float) and not math.isfinite(value):
        return f"metric {result.get('metric_name')} is {value} (not a finite number)"
    seconds = result.get("train_seconds")
    if isinstance(seconds, float) and not math.isfinite(seconds):
        return f"the subject's TrainResult.train_seconds is {seconds} (not a finite number of seconds)"
    try:
        json.dumps(result.get("extra"), default=lambda o: o.item() if hasattr(o, "item") else _unserialisable(o))
    except Exception as err:
        return f"the subject's extra results are not JSON-serialisable: {err}"
    return None


def _unserialisable(obj):
    raise TypeError(f"{type(obj).__name__} value {str(obj)[:60]!r}")


def die_with_parent() -> None:
    """On Linux, die (SIGKILL) with the run wrapper that started and measures this process.

    The training runs in its own session, so a killed Snakemake (or wrapper) would otherwise leave it
    training on, unmeasured, beside the runs of the resumed study.
    """
    parent = os.environ.get("GREENHP_WRAPPER_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except Exception:
        return
    if os.getppid() != int(parent):  # the wrapper died before the prctl took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m greenhp.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--request", required=True, help="JSON request written by the run wrapper")
    parser.add_argument("--result", required=True, help="where to write the JSON result")
    args = parser.parse_args(argv)
    die_with_parent()
    # Ctrl-C ends the training by the signal itself (not a KeyboardInterrupt traceback and exit 1),
    # so the wrapper sees an interruption, not a failure of the configuration.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    global MARKS
    MARKS = MarkWriter.from_env()
    MARKS.mark("start")
    with open(args.request) as fh:
        request = json.load(fh)
    start = time.time()
    try:
        result = train(request)
    except DataMissing as err:
        print(f"greenhp.train: data missing: {err}", file=sys.stderr, flush=True)
        result = {"status": "failed", "reason": f"data missing: {err}"}
    except Exception as err:  # a crash of the training itself is data: recorded as failed
        traceback.print_exc()
        kind = "out of memory" if "out of memory" in str(err).lower() else type(err).__name__
        result = {"status": "failed", "reason": f"{kind}: {err}"}
    result["wall_seconds"] = time.time() - start
    try:
        write_json(args.result, result)
    except (TypeError, ValueError) as err:  # something the checks above missed: still a result
        write_json(args.result, {"status": "failed", "reason": f"the training's result is not JSON-serialisable: {err}",
                                 "wall_seconds": result["wall_seconds"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
