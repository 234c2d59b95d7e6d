# Study plan, input functions and wildcard constraints. Everything here runs at parse time, so it
# stays cheap: the mutant table is drawn (or read) once, with no torch import and no file scans.

import os
import sys

from greenhp.lean.derive import derive_plan
from greenhp.lean.settings import lean_settings
from greenhp.lean.waves import CHECK, DECISIONS, checkpoint_needed, decision_params, derived_params
from greenhp.lean.waves import first_wave_runs, record_path, study_runs, wave_line
from greenhp.record import quarantine_listed
from greenhp.study import ID_PATTERN, StudyError, detect_gpus, load_study, run_spec

try:
    STUDY = load_study(config)
except StudyError as err:
    sys.exit(f"greenhp: configuration rejected: {err}")

SINGLE_JOBS = STUDY.single_jobs()
PAIR_JOBS = STUDY.pair_jobs()
SINGLE_RECORDS = [record_path(j) for j in SINGLE_JOBS]  # train.smk's outputs (greenhp.lean.waves.record_path)
PAIR_RECORDS = [record_path(j) for j in PAIR_JOBS]

# The records the study uses (every reader of run records takes RUN_RECORDS: aggregate, epochs,
# footprint, plots) and the runs.tsv rows it derives instead of training (DERIVED_RUNS, rule
# aggregate's params; never record files). Full design: every record, a list; nothing derived. Lean
# design (docs/lean.md) with something to decide after the first wave (adaptive repetitions, or
# derived epochs rows to check): the first wave, then the checkpoint lean_decide (lean.smk) decides
# which groups get the remaining repetitions and which derived families are trained in full, so
# RUN_RECORDS and DERIVED_RUNS are input functions (first wave + extensions + full families).
LEAN = lean_settings(config)
DERIVE = derive_plan(STUDY, LEAN)  # greenhp.lean.derive: which epochs mutants are read from longer runs
LEAN_CHECKPOINT = checkpoint_needed(LEAN, DERIVE)
LEAN_DECISIONS = DECISIONS  # results/lean/decisions.tsv, the checkpoint's output (adaptive designs)
LEAN_CHECK = CHECK  # results/lean/derive_check.tsv, the checkpoint's output (derived families)
FIRST_WAVE_RECORDS, FIRST_WAVE_DERIVED = first_wave_runs(STUDY, DERIVE)


def run_plan(wildcards):
    """(records, derived jobs) of the whole study, once the checkpoint has decided."""
    out = checkpoints.lean_decide.get().output
    return study_runs(STUDY, DERIVE, out.decisions if LEAN.adaptive else None,
                      out.check if DERIVE.families else None)


def run_records(wildcards):
    """The first wave, the extensions and the families trained in full, in the full design's order."""
    return run_plan(wildcards)[0]


def derived_runs(wildcards):
    """The rows derived from the sources' records (rule aggregate's params)."""
    return derived_params(run_plan(wildcards)[1])


RUN_RECORDS = run_records if LEAN_CHECKPOINT else SINGLE_RECORDS + PAIR_RECORDS
DERIVED_RUNS = derived_runs if LEAN_CHECKPOINT else []
if LEAN_CHECKPOINT and getattr(workflow, "is_main_process", True):
    print(wave_line(STUDY, LEAN, DERIVE), file=sys.stderr)

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
elif LEAN_CHECKPOINT:
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
