"""Calibration on this machine: short runs of each original (or earlier records), and the overheads.

Each subject's original is trained through the same wrapper and child process the workflow uses
(:func:`greenhp.runner.execute`, ``python -m greenhp.train``), its run built by the same functions as
the training rules' (:func:`greenhp.study.run_identity`, :func:`greenhp.study.run_settings`,
:func:`greenhp.runner.spec_from_params`), with the study's device, data, threads, ``max_steps`` and
energy settings: first for 1 epoch, then for ``k`` epochs, where ``k`` makes the training last about
as long as the start-up (``k`` = start-up seconds / seconds per epoch, at least 2, at most the
original's epochs), ``repeats`` times each (default 1). Earlier run records of the same subject,
device and host are used instead when they are there (this study's ``results/runs``: only records
whose configuration is in this study with the same hyperparameters; and earlier calibrations under
``results/estimate/calibration`` made with the same settings). If the study has pairs, one pair of
originals (each for 1 epoch) is trained too, unless earlier pair records exist.

The overheads outside the measured windows (a training job's start-up, the workflow's own jobs) are
measured by starting the same processes here (:func:`measure_overheads`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from greenhp.cost.model import Calibration, PairFactor, Point, SubjectModel, fit_pair, fit_subject, median, \
    point_from_record

CALIBRATION_VERSION = 1


def resolved_device(config: dict) -> str:
    from greenhp.study import detect_gpus

    dev = config.get("device", "auto")
    if dev == "auto":
        return "cuda" if detect_gpus() > 0 else "cpu"
    return dev


def calibration_settings(config: dict, subject: str, device: str, threads: int) -> dict:
    """What a calibration run's time depends on besides its hyperparameters (its reuse key)."""
    sconf = config["subjects"].get(subject) or {}
    return {"version": CALIBRATION_VERSION, "subject": subject, "module": sconf.get("module"),
            "defaults": sconf.get("defaults"), "device": device, "threads": threads,
            "data": config.get("data") or {}, "max_steps": (config.get("train") or {}).get("max_steps"),
            "energy": config.get("energy") or {}, "host": platform.node()}


def settings_key(settings: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _same_machine(rec: dict, device: str) -> bool:
    env = rec.get("environment") or {}
    if rec.get("device") != device or env.get("hostname") not in (None, platform.node()):
        return False
    return True


def study_records(runs_dir: str | Path, study, device: str,
                  log: Callable[[str], None] = lambda s: None) -> tuple[list[Path], list[Path]]:
    """Earlier records of this study here: (single, pair) paths whose configuration is in the study
    with the same hyperparameters, on the same device and host. A record that fails the run-record
    check (greenhp.record.read_record) is skipped with a line to ``log`` naming the file and field."""
    from greenhp.record import read_record

    singles, pairs = [], []
    root = Path(runs_dir)
    for mode, out in (("single", singles), ("pair", pairs)):
        for path in sorted((root / mode).glob("**/rep*.json")) if (root / mode).is_dir() else []:
            rec, problem = read_record(path)
            if problem:
                log(f"calibration: run record {path} {problem}: not used")
                continue
            m = study.by_id.get(rec.get("mutant_id"))
            if m is None or rec.get("requested") != m.hp or not _same_machine(rec, device):
                continue
            if mode == "pair":
                partner = study.by_id.get((rec.get("partner") or {}).get("mutant_id"))
                if partner is None:
                    continue
            out.append(path)
    return singles, pairs


def _load(paths: Iterable[Path], log: Callable[[str], None] = lambda s: None) -> list[tuple[Path, dict]]:
    """The run records at ``paths`` that pass the run-record check; each other one is skipped with a
    line to ``log`` naming the file and field."""
    from greenhp.record import read_record

    out = []
    for p in paths:
        rec, problem = read_record(p)
        if problem:
            log(f"calibration: run record {p} {problem}: not used")
            continue
        out.append((p, rec))
    return out


def time_process(code: str, repeats: int = 1) -> float:
    """Median wall seconds of ``python -c code`` (a process start-up measured on this machine)."""
    times = []
    env = dict(os.environ)
    for _ in range(repeats):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        times.append(time.monotonic() - t0)
    return median(times)


def measure_overheads() -> tuple[float, float]:
    """(seconds a training job spends starting before its window, seconds of the workflow's own
    start-ups), measured by starting the same processes here."""
    job = time_process("import snakemake.script, greenhp.runner")
    snake = time_process("import snakemake.cli, greenhp.study")
    analysis = time_process("import snakemake.script, greenhp.analysis, greenhp.analysis.plots, "
                            "greenhp.analysis.summary")
    return job, snake + 5 * analysis  # Snakemake itself + mutants, aggregate, stats, plots, footprint


@dataclass
class CalibrationRuns:
    """The calibration runs of one study on this machine: where they are kept (one folder per subject
    under a key of their settings, :func:`calibration_settings`), reused or trained."""

    config: dict
    device: str
    job_cores: int
    calib_dir: Path
    reuse: bool
    execute: Callable
    log: Callable[[str], None]

    def threads(self, mode: str) -> int:
        from greenhp.runner import torch_threads

        return torch_threads({"torch_threads": (self.config.get("train") or {}).get("torch_threads"),
                              "mode": mode}, self.job_cores)

    def key_dir(self, subject: str, mode: str, name: str) -> Path:
        settings = calibration_settings(self.config, subject, self.device, self.threads(mode))
        return self.calib_dir / settings_key(settings) / name

    def earlier(self, key_dir: Path) -> list[tuple[Path, dict]]:
        """The calibration records kept in ``key_dir`` (none when not reusing)."""
        return _load(sorted(key_dir.glob("*.json")), self.log) if self.reuse and key_dir.is_dir() else []

    def run(self, subject: str, hp: dict, out: Path, mode: str = "single", partner: tuple | None = None) -> dict:
        """Train the original of ``subject`` with ``hp`` (beside ``partner``'s (subject, hp) in a pair)
        as the training rules do; its record, which must be ok."""
        from greenhp.mutation import Mutant
        from greenhp.runner import spec_from_params
        from greenhp.study import run_identity, run_settings

        mut = Mutant(f"{subject}__original", subject, "none", "none", None, None, dict(hp))
        pmut = (Mutant(f"{partner[0]}__original", partner[0], "none", "none", None, None, dict(partner[1]))
                if partner else None)
        params = {**run_identity(self.config, mode, mut, pmut, 1), **run_settings(self.config)}
        spec = spec_from_params(params, self.job_cores)
        logs = {"main": str(out.with_suffix(".log"))}
        if partner:
            logs["partner"] = str(out.with_suffix(".partner.log"))
        out.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        rec = self.execute(spec, out, logs)
        self.log(f"calibration: {out.parent.name}/{out.name}: {rec.get('status')} in {time.monotonic() - t0:.1f} s")
        if rec.get("status") != "ok":
            raise RuntimeError(f"calibration run of {subject} ({out}) ended {rec.get('status')}: {rec.get('reason')}")
        return rec

    def measure(self, subject: str, hp: dict, key_dir: Path, repeats: int) -> list[dict]:
        """1 epoch, then k epochs (training about as long as start-up), ``repeats`` times: the records."""
        if not (key_dir / "settings.json").exists():
            key_dir.mkdir(parents=True, exist_ok=True)
            (key_dir / "settings.json").write_text(json.dumps(
                calibration_settings(self.config, subject, self.device, self.threads("single")), indent=1,
                default=str))
        has_epochs = "epochs" in hp
        first = dict(hp, epochs=1) if has_epochs else dict(hp)
        new = []
        for i in range(1, repeats + 1):
            new.append(self.run(subject, first, key_dir / f"e{first.get('epochs', 0)}_r{i}.json"))
            if has_epochs and i == 1:
                k = _epochs_for_startup(point_from_record(new[0]), int(hp["epochs"]))
            if has_epochs and k != 1:
                new.append(self.run(subject, dict(hp, epochs=k), key_dir / f"e{k}_r{i}.json"))
        return new

    def subject_model(self, subject: str, hp: dict, earlier: list[tuple[Path, dict]], repeats: int) -> SubjectModel:
        """The model of ``subject`` from this study's ``earlier`` records and earlier calibration runs,
        measured here when they are too few."""
        key_dir = self.key_dir(subject, "single", subject)
        recs = earlier + self.earlier(key_dir)
        pts: list[Point | None] = [pt for p, r in recs if (pt := point_from_record(r, str(p))) is not None]
        source = f"{len(pts)} earlier record(s)" if pts else ""
        if len({p.epochs for p in pts if p.train_s}) < 1 or len(pts) < 2:
            new = self.measure(subject, hp, key_dir, repeats)
            pts += [point_from_record(r, "calibration") for r in new]
            source = (f"{len(new)} calibration run(s) here" + (f" + {source}" if source else ""))
        model = fit_subject([p for p in pts if p is not None], hp.get("epochs"), hp.get("batch_size"))
        model.basis = source
        return model

    def pair_factor(self, defaults: dict, links: list[tuple[str, str]], models: dict[str, SubjectModel]
                    ) -> PairFactor | None:
        """The pair factor from earlier calibration pair runs, else from one pair of originals (1 epoch
        each) trained here: the first of the study's ``links`` (subject, partner)."""
        s, p = links[0]
        key_dir = self.key_dir(s, "pair", f"pair__{p}")
        pair = fit_pair([r for _, r in self.earlier(key_dir)], models)
        if pair is not None:
            pair.basis = f"{pair.n} earlier calibration pair run(s)"
            return pair
        hs, hpp = defaults[s], defaults[p]
        hs1 = dict(hs, epochs=1) if "epochs" in hs else dict(hs)
        hp1 = dict(hpp, epochs=1) if "epochs" in hpp else dict(hpp)
        rec = self.run(s, hs1, key_dir / "pair_r1.json", mode="pair", partner=(p, hp1))
        pair = fit_pair([rec], models)
        if pair is not None:
            pair.basis = "1 calibration pair run here"
        return pair


def _epochs_for_startup(p1: Point, original_epochs: int) -> int:
    """``k``: the epochs whose training lasts about as long as the 1-epoch run ``p1``'s start-up (at
    least 2, at most the original's epochs)."""
    per = (p1.train_s or p1.duration_s) / max(1, p1.epochs or 1)
    fixed = max(0.0, p1.duration_s - (p1.train_s or 0.0))
    k = int(min(original_epochs, max(2, math.ceil(fixed / per) if per > 0 else 2)))
    return max(1, min(k, original_epochs))


def calibrate(config: dict, study, *, cores: int = 1, runs_dir: str | Path = "results/runs",
              calib_dir: str | Path = "results/estimate/calibration", repeats: int = 1,
              reuse: bool = True, log: Callable[[str], None] = lambda s: None,
              execute: Callable | None = None, overheads: Callable[[], tuple[float, float]] = measure_overheads
              ) -> Calibration:
    """Measure (or reuse) each subject's calibration runs and the pair factor; fit the models.

    ``execute`` (default :func:`greenhp.runner.execute`) trains one RunSpec and returns its record.
    """
    if execute is None:
        from greenhp.runner import execute
    from greenhp.study import subject_defaults

    device = resolved_device(config)
    job_cores = int((config.get("train") or {}).get("job_threads") or 0) or int(cores)
    runs = CalibrationRuns(config, device, job_cores, Path(calib_dir), reuse, execute, log)
    defaults = subject_defaults(config)
    singles, pairs = study_records(runs_dir, study, device, log) if reuse else ([], [])
    by_subject: dict[str, list[tuple[Path, dict]]] = {}
    for path, rec in _load(singles, log):
        by_subject.setdefault(rec["subject"], []).append((path, rec))
    models = {subject: runs.subject_model(subject, hp, by_subject.get(subject, []), repeats)
              for subject, hp in defaults.items()}
    pair = None
    links = [(s, p) for s in defaults for p in study.partners_of(s)]
    if links:
        pair = fit_pair([r for _, r in _load(pairs, log)], models)
        if pair is None:
            pair = runs.pair_factor(defaults, links, models)
        else:
            pair.basis = f"{pair.n} earlier pair record(s) of this study"
    job_s, wf_s = overheads()
    where = f"{platform.node()} ({os.cpu_count()} CPUs, device {device})"
    return Calibration(models=models, pair=pair, job_start_s=job_s, workflow_s=wf_s, device=device,
                       where=where, notes=[])
