"""The energy-logging run wrapper: train one configuration (single) or two side by side (pair).

Each training process is a child (``python -m greenhp.train``) in its own process group, measured by
:class:`greenhp.energy.EnergyMonitor` over the window from its start to its end. The wrapper
compares the hyperparameters the child actually used with the requested ones, and writes one run
record (JSON, atomically). Divergence, crashes and timeouts are recorded as statuses; a
hyperparameter mismatch is a bug in the subject and fails the job loudly.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenhp import __version__
from greenhp.atomic import finite, write_json
from greenhp.energy import EnergyConfig, EnergyMonitor
from greenhp.energy.command import timeline_path_for
from greenhp.energy.slots import acquire_gpu
from greenhp.marks import (ENV_FD as MARKS_ENV_FD, JOIN_S as MARK_LISTENER_JOIN_S, MarkGate, MarkListener,
                           epochs_run_problem, open_channel, settle as settle_marks)
from greenhp.mutation import Mutant
from greenhp.procs import INTERRUPTED_BY, RunGuard, RunInterrupted, signal_name
from greenhp.record import check as check_record, schema_problem
from greenhp.record_check import is_number, result_value_problem, without_bad_values
from greenhp.study import detect_gpus
from greenhp.units import accounting

RECORD_SCHEMA_VERSION = 1
GPU_LOCK_DIR = os.environ.get("GREENHP_GPU_LOCK_DIR", "/tmp/greenhp-gpu-locks")  # shared by all studies on this host


class HyperparameterMismatch(RuntimeError):
    """The training used other hyperparameters than requested (the reference study's silent bug)."""


@dataclass
class RunSpec:
    """Everything one run needs, built by the Snakemake rule from the study plan."""

    mode: str  # single | pair
    mutant: Mutant
    repetition: int
    seed: int
    device: str = "auto"
    threads: int = 1  # torch threads per training process
    data: dict[str, Any] = field(default_factory=dict)
    max_steps: int | None = None
    timeout_s: float | None = None
    partner: Mutant | None = None
    energy: dict[str, Any] = field(default_factory=dict)
    carbon_g_per_kwh: float | None = None
    gpu_index: int | None = None
    modules: dict[str, str] = field(default_factory=dict)  # user-defined subjects: name -> "module:ATTR"
    marks: bool = True  # phase marks from the training processes (per-phase and per-epoch energy)

    @property
    def run_id(self) -> str:
        if self.mode == "pair":
            return f"pair__{self.mutant.mutant_id}__with__{self.partner.mutant_id}__rep{self.repetition}"
        return f"single__{self.mutant.mutant_id}__rep{self.repetition}"


@dataclass
class Child:
    label: str
    request_path: str
    result_path: str
    log_path: str
    proc: subprocess.Popen | None = None
    rusage: Any = None
    returncode: int | None = None
    timed_out: bool = False


def child_request(spec: RunSpec, mutant: Mutant, threads: int) -> dict:
    return {
        "subject": mutant.subject,
        "module": spec.modules.get(mutant.subject),
        "mutant_id": mutant.mutant_id,
        "hp": mutant.hp,
        "seed": spec.seed,
        "device": spec.device,
        "threads": threads,
        "data": spec.data,
        "max_steps": spec.max_steps,
    }


def start_child(child: Child, env: dict[str, str], pass_fds: tuple[int, ...] = ()) -> None:
    log = open(child.log_path, "w")
    cmd = [sys.executable, "-u", "-m", "greenhp.train", "--request", child.request_path, "--result", child.result_path]
    child.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                  pass_fds=pass_fds)
    log.close()


def start_marked_child(child: Child, env: dict[str, str], monitor: EnergyMonitor,
                       epochs: int | None = None) -> MarkListener:
    """Start ``child`` with a phase-marks channel (greenhp.marks) whose accepted marks make
    ``monitor`` read every meter (``epochs``: the run's epochs, the highest epoch a mark may carry);
    returns the listener thread (ends when the child closes the channel, or at its ``finish``)."""
    r, w = open_channel()
    try:
        start_child(child, dict(env, **{MARKS_ENV_FD: str(w)}), pass_fds=(w,))
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    monitor.track(child.proc.pid, child.label)
    listener = MarkListener(r, child.label, monitor.mark, MarkGate(epochs))
    listener.start()
    return listener


def run_epochs(mutant: Mutant) -> int | None:
    """The run's number of epochs: its ``epochs`` hyperparameter, None when the subject has none."""
    e = mutant.hp.get("epochs")
    return int(e) if isinstance(e, (int, float)) and not isinstance(e, bool) and float(e).is_integer() else None


def settle_all_marks(energy: dict, checks: dict[str, dict], members: list[tuple[str, Mutant]],
                     outcomes: dict[str, dict]) -> None:
    """Put each process's mark check (MarkListener.finish) beside its phases in ``energy`` and add
    the note on what its marks leave out (greenhp.marks.settle)."""
    phases = energy.get("phases") or {}
    for label, mutant in members:
        if label not in phases:
            continue
        phases[label].update(checks.get(label) or {})
        out = outcomes.get(label) or {}
        settle_marks(phases[label], epochs=run_epochs(mutant), epochs_run=out.get("epochs_run"),
                     status=out.get("status"))


def wait_child(child: Child, deadline: float | None) -> None:
    """Wait for the child, killing its process group at the deadline; keep its rusage (CPU time)."""
    timer = None
    if deadline is not None:
        def kill() -> None:
            child.timed_out = True
            try:
                os.killpg(child.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), kill)
        timer.daemon = True
        timer.start()
    _, status, child.rusage = os.wait4(child.proc.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    child.proc.returncode = child.returncode
    if timer is not None:
        timer.cancel()


def cpu_seconds(child: Child) -> float:
    return child.rusage.ru_utime + child.rusage.ru_stime


def child_outcome(child: Child, timeout_s: float | None) -> dict:
    """The child's result, or a failure description when it wrote none (see also :func:`interruption`)."""
    if child.timed_out:
        return {"status": "timeout", "reason": f"exceeded the time limit of {timeout_s:g} s and was killed"}
    result = read_result(child)
    if result is not None:
        if isinstance(result, dict) and result.get("status") in ("ok", "diverged", "failed"):
            return result
        return {"status": "failed", "reason": f"training process wrote an unusable result: {str(result)[:200]}"}
    code = child.returncode
    if code is not None and code < 0:
        return {"status": "failed", "reason": f"training process was killed by {signal_name(-code)} and wrote no result"}
    return {"status": "failed", "reason": f"training process exited with code {code} and wrote no result"}


def read_result(child: Child) -> Any:
    try:
        with open(child.result_path) as fh:
            return json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def interruption(child: Child, run_id: str) -> RunInterrupted | None:
    """A training process ended without a result by SIGTERM, SIGINT, SIGHUP, SIGQUIT or a SIGKILL that
    was not the timeout's was stopped from outside (Ctrl-C, a scheduler, the OOM killer, an operator):
    that says nothing about its configuration, so the run is not recorded (the rerun trains it)."""
    code = child.returncode
    if child.timed_out or code is None or code >= 0 or -code not in INTERRUPTED_BY or read_result(child) is not None:
        return None
    return RunInterrupted(f"run {run_id} interrupted: its {child.label} training process was killed by "
                          f"{signal_name(-code)}: no record written, a rerun trains it", -code)


def result_problem(result: dict, duration_s: float | None = None) -> str | None:
    """Why an ``ok`` result from a training process cannot be recorded as ok, or None.

    Catches what would otherwise reach the record and break the runs table: a metric that is not a
    finite number (NaN/inf arrive as null), a metric other than the one the subject declares,
    effective hyperparameters that are not numbers ("0.1", "fast"), and the value checks the record
    check applies (greenhp.record_check.result_value_problem: a metric outside its name's range, a
    ``train_seconds`` that is missing, not a finite number >= 0, or longer than the run's
    ``duration_s``).
    """
    declared, name, value = result.get("declared_metric_name"), result.get("metric_name"), result.get("metric_value")
    if not isinstance(name, str) or not name:
        return f"the subject reported no metric name (got {name!r})"
    if declared is not None and name != declared:
        return f"the subject declares metric {declared!r} but reported {name!r}"
    if value is None:
        return f"metric {name} is not a finite number (NaN or inf, written as null)"
    if not is_number(value) or not math.isfinite(value):
        return f"metric {name} is {value!r} ({type(value).__name__}), not a finite number"
    effective = result.get("effective")
    if not isinstance(effective, dict):
        return f"the subject reported effective hyperparameters as {type(effective).__name__}, not a mapping"
    for hp, v in effective.items():
        if not is_number(v) or not math.isfinite(v):
            return f"effective hyperparameter {hp} = {v!r} ({type(v).__name__}) is not a finite number"
    return result_value_problem(result, duration_s)


def checked(result: dict, duration_s: float | None = None) -> dict:
    """``result`` itself, or, when it is ok but unusable, a ``failed`` result naming why; a metric value
    or ``train_seconds`` the record check would reject is dropped from a result that is not ok."""
    if result.get("status") != "ok":
        return without_bad_values(result, duration_s)
    problem = result_problem(result, duration_s)
    if problem is None:
        return result
    effective = result.get("effective") if isinstance(result.get("effective"), dict) else {}
    return without_bad_values({
        **result, "status": "failed", "reason": problem, "metric_value": None,
        "effective": {k: v for k, v in effective.items() if is_number(v) and math.isfinite(v)} or None}, duration_s)


def check_effective(requested: dict, effective: dict, run_id: str) -> None:
    bad = []
    for name, want in requested.items():
        got = effective.get(name)
        if got is None:
            bad.append(f"{name}: requested {want!r}, the training did not report it")
        elif not math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=0.0):
            bad.append(f"{name}: requested {want!r}, used {got!r}")
    if bad:
        raise HyperparameterMismatch(f"run {run_id}: the training used other hyperparameters than requested: " + "; ".join(bad))


def execute(spec: RunSpec, out_path: str | Path, logs: dict[str, str], *, watch_parent: bool = False) -> dict:
    """Run ``spec``, write its record to ``out_path``, return the record.

    ``logs`` maps "main" (and "partner" in pair mode) to the file each training process prints to.
    The run holds a per-run lock, kills whatever its training left running, and raises
    :class:`greenhp.procs.RunInterrupted` (writing no record) when stopped by a signal; with
    ``watch_parent`` (the Snakemake entry point) it also stops when Snakemake dies (see greenhp.procs).
    """
    for path in logs.values():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", GREENHP_WRAPPER_PID=str(os.getpid()))  # see train.die_with_parent
    try:
        with RunGuard(out_path, spec.run_id, watch_parent=watch_parent) as guard:
            with gpu_slot(spec, env) as gpu_index:
                return _execute(spec, out_path, logs, env, gpu_index, guard)
    except RunInterrupted as err:
        note_interruption(err, logs.get("main"))
        raise


def note_interruption(err: RunInterrupted, log_path: str | None) -> None:
    """Say why no record was written, on stderr and at the end of the run's log."""
    line = f"greenhp: {err}"
    print(line, file=sys.stderr, flush=True)
    if log_path:
        with contextlib.suppress(OSError), open(log_path, "a") as fh:
            fh.write(line + "\n")


def gpu_slot(spec: RunSpec, env: dict[str, str]):
    """An exclusive GPU for this run when it trains on one (lock per GPU index; see energy.slots).

    Yields the NVML index of the GPU to measure, or None on CPU. Where a scheduler already set
    CUDA_VISIBLE_DEVICES (SLURM), that choice is kept and no lock is taken.
    """
    n_gpus = detect_gpus() if spec.device in ("auto", "cuda") else 0
    if n_gpus == 0:
        return contextlib.nullcontext(spec.gpu_index)

    @contextlib.contextmanager
    def slot():
        with acquire_gpu(n_gpus, GPU_LOCK_DIR, environ=env) as s:
            if s.index is not None:
                yield s.index
            else:  # chosen by the scheduler: measure the first visible device if it is a plain index
                first = (s.cuda_visible_devices or "").split(",")[0].strip()
                yield int(first) if first.isdigit() else spec.gpu_index

    return slot()


def _execute(spec: RunSpec, out_path: str | Path, logs: dict[str, str], env: dict[str, str], gpu_index: int | None,
             guard: RunGuard | None = None) -> dict:
    pair = spec.mode == "pair"
    members = [("main", spec.mutant)] + ([("partner", spec.partner)] if pair else [])
    threads = spec.threads
    with tempfile.TemporaryDirectory(prefix="greenhp-run-") as tmp:
        children = []
        for label, mutant in members:
            child = Child(label, f"{tmp}/{label}.request.json", f"{tmp}/{label}.result.json", logs[label])
            write_json(child.request_path, child_request(spec, mutant, threads))
            children.append(child)
        cfg = EnergyConfig.from_dict(spec.energy)
        monitor = EnergyMonitor(cfg, gpu_index=gpu_index,
                                timeline_path=str(timeline_path_for(out_path)) if cfg.timeline else None)
        monitor.begin()
        if spec.marks:
            monitor.expect_marks()
        listeners = []
        start_unix, start = time.time(), time.monotonic()
        for child, (_, mutant) in zip(children, members):
            if spec.marks:
                listeners.append(start_marked_child(child, env, monitor, run_epochs(mutant)))
            else:
                start_child(child, env)
                monitor.track(child.proc.pid, child.label)
            if guard is not None:
                guard.add_group(child.proc.pid)
        deadline = start + spec.timeout_s if spec.timeout_s else None
        for child in children:
            wait_child(child, deadline)
            monitor.child_done(child.label, cpu_seconds(child))
        leftovers = guard.cleanup() if guard is not None else []  # what the training forked and left running
        duration = time.monotonic() - start
        # bounded: one shared wait for the channels' end of file, then the listeners stop reading
        stop_by = time.monotonic() + MARK_LISTENER_JOIN_S
        mark_checks = {listener.label: listener.finish(stop_by) for listener in listeners}
        outcomes = {c.label: checked(child_outcome(c, spec.timeout_s), duration) for c in children}
        energy = monitor.end(cpu_seconds={c.label: cpu_seconds(c) for c in children},
                             training_gpus={label: o.get("gpu_uuid") for label, o in outcomes.items()})
        settle_all_marks(energy, mark_checks, members, outcomes)
    for c in children:
        if (stopped := interruption(c, spec.run_id)) is not None:
            raise stopped
    main = outcomes["main"]
    if main["status"] == "ok":
        check_effective(spec.mutant.hp, main.get("effective") or {}, spec.run_id)
    if pair and outcomes["partner"]["status"] == "ok":
        check_effective(spec.partner.hp, outcomes["partner"].get("effective") or {}, spec.run_id + " (partner)")
    record = build_record(spec, main, energy, start_unix, duration, children, outcomes.get("partner"))
    if main.get("epochs_run") is not None:  # the subject's TrainResult.epochs_run, when it is the run's epochs
        bad = epochs_run_problem(main["epochs_run"], run_epochs(spec.mutant))
        record["epochs_run"] = None if bad else main["epochs_run"]
    if cfg.timeline:
        ensure_timeline(timeline_path_for(out_path))
    if leftovers:
        record["leftover_processes"] = leftovers
        print(f"greenhp: run {spec.run_id}: killed {len(leftovers)} process(es) its training left running: "
              + "; ".join(leftovers), file=sys.stderr, flush=True)
    record = schema_valid(record)
    if (problem := check_record(finite(record))) is not None:  # a meter fault or a greenhp bug: say so
        print(f"greenhp: run {spec.run_id}: its record {problem}; rule aggregate will list it as invalid and "
              f"the next run of the workflow trains it again", file=sys.stderr, flush=True)
    write_json(out_path, record)
    return record


def ensure_timeline(path: Path) -> None:
    """With ``energy.timeline`` on, the power timeline beside the record is a declared output of the
    training job (workflow/rules/train.smk, on a GPU): when no GPU was sampled (NVML failed) it is
    written with its header and no rows, which the plots skip."""
    if not path.exists():
        from greenhp.energy.sampler import TIMELINE_COLUMNS

        path.write_text("\t".join(TIMELINE_COLUMNS) + "\n")


def schema_valid(record: dict) -> dict:
    """``record``, or, if it breaks the run-record schema (a subject's odd result the checks above
    missed), the same run as ``failed`` with the schema's complaint as its reason: one odd run must
    never stop the aggregate rule. A record that is still invalid then is a greenhp bug: raise."""
    problem = schema_problem(record)
    if problem is None:
        return record
    record.update(status="failed", reason=f"the run's record broke the schema: {problem}",
                  metric={"name": record["metric"].get("name") if isinstance(record["metric"].get("name"), str) else None,
                          "value": None})
    if not (isinstance(record.get("effective"), dict) and all(is_number(v) for v in record["effective"].values())):
        record["effective"] = None
    if schema_problem(record) is not None:
        raise ValueError(f"run {record.get('run_id')}: cannot build a valid record: {schema_problem(record)}")
    return record


def identity(mutant: Mutant) -> dict:
    return {
        "mutant_id": mutant.mutant_id,
        "subject": mutant.subject,
        "hyperparameter": mutant.hyperparameter,
        "operator": mutant.operator,
        "original": mutant.original,
        "value": mutant.value,
    }


def run_environment(main: dict, snapshot: dict) -> dict:
    """The few facts a results table needs (runs.tsv's gpu_model, cpu_model); the energy monitor's full
    snapshot (clocks, temperatures, power limit, RAPL zones, versions) stays in ``energy.environment``."""
    gpu = snapshot.get("gpu") or {}
    return {
        "hostname": platform.node(),
        "python": platform.python_version(),
        "greenhp": __version__,
        "torch": main.get("torch_version"),
        "cpu_model": snapshot.get("cpu_model"),
        "gpu_model": gpu.get("name"),
        "gpu_uuid": gpu.get("uuid"),
        "gpu_driver": gpu.get("driver"),
        "cuda_visible_devices": snapshot.get("cuda_visible_devices"),
        "details": "energy.environment",
    }


def build_record(spec: RunSpec, main: dict, energy: dict, start_unix: float, duration: float,
                 children: list[Child], partner: dict | None) -> dict:
    # CO2e at training time (the intensity this job's config held), kept in the record as such; every
    # table and page recomputes it from the joules with the current settings (greenhp.units)
    at_training = accounting((energy.get("total") or {}).get("energy_j"),
                             {"intensity_g_per_kwh": spec.carbon_g_per_kwh})
    record = {
        "schema_version": RECORD_SCHEMA_VERSION,
        "run_id": spec.run_id,
        "mode": spec.mode,
        **identity(spec.mutant),
        "repetition": spec.repetition,
        "seed": spec.seed,
        "partner": identity(spec.partner) if spec.partner else None,
        "requested": spec.mutant.hp,
        "effective": main.get("effective"),
        "status": main["status"],
        "reason": main.get("reason"),
        "metric": {"name": main.get("metric_name"), "value": main.get("metric_value"),
                   "direction": main.get("metric_direction")},
        "timing": {
            "start_unix": start_unix,
            "duration_s": duration,
            "train_seconds": main.get("train_seconds"),
            "cpu_seconds": {c.label: cpu_seconds(c) for c in children},
        },
        "device": main.get("device") or spec.device,
        "energy": energy,
        "carbon": {"energy_kwh": at_training["kwh"], "intensity_g_per_kwh": spec.carbon_g_per_kwh,
                   "co2e_g": at_training["co2e_g"]},
        "environment": run_environment(main, energy.get("environment") or {}),
    }
    if main.get("schedule_depends_on_epochs") is not None:
        record["schedule_depends_on_epochs"] = bool(main["schedule_depends_on_epochs"])
    if partner is not None:
        record["partner_result"] = {
            "status": partner["status"],
            "reason": partner.get("reason"),
            "metric": {"name": partner.get("metric_name"), "value": partner.get("metric_value")},
            "effective": partner.get("effective"),
            "train_seconds": partner.get("train_seconds"),
        }
    return record


def torch_threads(params: dict, job_cores: int) -> int:
    """Threads per training process: the configured number, else the job's cores (shared in a pair)."""
    if params.get("torch_threads"):
        return int(params["torch_threads"])
    return max(1, int(job_cores) // 2) if params["mode"] == "pair" else max(1, int(job_cores))


def run_from_params(params: dict, out_path: str, logs: dict[str, str], threads: int) -> dict:
    """Entry point for the training rules: ``params`` as built by workflow/rules/common.smk."""
    return execute(spec_from_params(params, threads), out_path, logs, watch_parent=True)


def spec_from_params(params: dict, threads: int) -> RunSpec:
    """The RunSpec of a training job's ``params`` (greenhp.study.run_spec or run_identity, with
    run_settings) on ``threads`` cores: the training rules' and the calibration runs' one way."""
    return RunSpec(
        mode=params["mode"],
        mutant=params["mutant"],
        partner=params.get("partner"),
        repetition=int(params["repetition"]),
        seed=int(params["seed"]),
        device=params.get("device", "auto"),
        threads=torch_threads(params, threads),
        data=params.get("data") or {},
        max_steps=params.get("max_steps"),
        timeout_s=params.get("timeout_s"),
        energy=params.get("energy") or {},
        carbon_g_per_kwh=params.get("carbon_g_per_kwh"),
        modules=params.get("modules") or {},
    )
