# Study plan, input functions and wildcard constraints. Everything here runs at parse time, so it
# stays cheap: the mutant table is drawn (or read) once, with no torch import and no file scans.

import os
import sys

from greenhp.lean.settings import lean_settings
from greenhp.lean.waves import DECISIONS, decision_params, first_wave_records, plan_order, wave_line
from greenhp.lean.waves import extension_records as lean_extension_records
from greenhp.record import quarantine_listed
from greenhp.study import ID_PATTERN, StudyError, detect_gpus, load_study, run_spec

try:
    STUDY = load_study(config)
except StudyError as err:
    sys.exit(f"greenhp: configuration rejected: {err}")

SINGLE_JOBS = STUDY.single_jobs()
PAIR_JOBS = STUDY.pair_jobs()
SINGLE_RECORDS = [f"results/runs/single/{j.mutant_id}/rep{j.repetition}.json" for j in SINGLE_JOBS]
PAIR_RECORDS = [f"results/runs/pair/{j.mutant_id}/{j.partner}/rep{j.repetition}.json" for j in PAIR_JOBS]

# The records the study uses (every reader of run records takes RUN_RECORDS: aggregate, epochs,
# footprint, plots). Full design: all of them, a list. Adaptive lean design (docs/lean.md): the first
# wave, then the checkpoint lean_decide (lean.smk) decides which groups get the remaining
# repetitions, so RUN_RECORDS is the input function run_records (first wave + extensions).
LEAN = lean_settings(config)
LEAN_DECISIONS = DECISIONS  # results/lean/decisions.tsv, the checkpoint's output
FIRST_WAVE_RECORDS = first_wave_records(STUDY)


def extension_records(wildcards):
    """The records of repetitions first_wave+1.. of the groups the checkpoint left open."""
    return lean_extension_records(STUDY, checkpoints.lean_decide.get().output[0])


def run_records(wildcards):
    """The first wave and the extensions, in the full design's order."""
    return plan_order(STUDY, FIRST_WAVE_RECORDS + extension_records(wildcards))


RUN_RECORDS = run_records if LEAN.adaptive else SINGLE_RECORDS + PAIR_RECORDS
if LEAN.adaptive and getattr(workflow, "is_main_process", True):
    print(wave_line(STUDY, LEAN), file=sys.stderr)

# The records that the aggregate job listed as unusable (unreadable, breaking the schema, failing the
# record check) are moved aside to <record>.invalid here, before the DAG is built, so that this run
# trains them again (greenhp.record.quarantine_listed). Only the listed records are read, so the
# parse step stays cheap; cluster jobs re-reading this file leave them alone.
INVALID_RECORDS_LIST = "results/runs_invalid.txt"
if getattr(workflow, "is_main_process", True):
    # (every record of the full design: a lean study's extension records included)
    for line in quarantine_listed(INVALID_RECORDS_LIST, SINGLE_RECORDS + PAIR_RECORDS):
        print(line, file=sys.stderr)

# Training jobs hold the GPU (resources: gpu=1) when they train on one; on a CPU each measured job
# takes every core it is given, so measured runs never overlap either way.
USE_GPU = config["device"] == "cuda" or (config["device"] == "auto" and detect_gpus() > 0)
GPU_PER_JOB = 1 if USE_GPU else 0

# Power timelines (energy.timeline: true on a GPU): rep<k>.timeline.tsv beside each record, a second
# output of its training job (greenhp.runner.ensure_timeline) and an input of rule plots.
TIMELINES = bool(config["energy"].get("timeline")) and USE_GPU


def timeline_of(record):
    """The power timeline's path beside a record (greenhp.energy.command.timeline_path_for)."""
    return record[: -len(".json")] + ".timeline.tsv"


def run_timelines(wildcards):
    return [timeline_of(r) for r in run_records(wildcards)]


if not TIMELINES:
    RUN_TIMELINES = []
elif LEAN.adaptive:
    RUN_TIMELINES = run_timelines
else:
    RUN_TIMELINES = [timeline_of(r) for r in RUN_RECORDS]


wildcard_constraints:
    mutant_id=ID_PATTERN,
    partner=ID_PATTERN,
    rep=r"[0-9]+",


def train_threads():
    """Cores per training job. Locally each measured job reserves every core Snakemake was given, so
    measured runs never overlap; on a cluster (no --cores) the scheduler keeps jobs apart and a job
    asks for train.job_threads cores (default 1; a profile's set-threads overrides either)."""
    if config["train"].get("job_threads"):
        return int(config["train"]["job_threads"])
    if workflow.local_exec and workflow._cores is not None:
        return workflow.cores
    return 1


def run_params(mode):
    """params for a training rule: the run's identity (greenhp.study.run_spec), no more, so that only a
    change of what the run trains or measures reruns it. The time limit and the carbon intensity reach
    the job through its config (greenhp.study.run_settings, read by scripts/train.py)."""

    def params(wildcards):
        partner = wildcards.partner if mode == "pair" else None
        return run_spec(config, STUDY, mode, wildcards.mutant_id, partner, int(wildcards.rep))

    return params


def estimate_if_present(wildcards):
    """Input of the footprint table and the summary page: results/estimate.tsv when `greenhp plan
    --estimate` wrote one (writing one later reruns both, to compare against it)."""
    return ["results/estimate.tsv"] if os.path.exists("results/estimate.tsv") else []
