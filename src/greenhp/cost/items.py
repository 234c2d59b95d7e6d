"""The items of a study's cost, in the order estimate.tsv, footprint.tsv and ``greenhp plan
--estimate`` print them, and the named groups the sums are taken over. Imports nothing."""

from __future__ import annotations

#: the training runs, one item per mode
TRAINING = ("training_single", "training_pair")
#: what a training job spends besides its run: the idle baseline, the GPU settle wait, its start-up
JOB_EXTRAS = ("idle_baseline", "settle_wait", "job_overhead")
#: the training jobs' time: what runs on the lanes (wall time) and on the devices (device hours)
JOB_ITEMS = TRAINING + JOB_EXTRAS
#: the parts of the study's total: the training jobs and the workflow's other jobs
PARTS = JOB_ITEMS + ("workflow",)
#: items with a metered energy (the total's energy is their sum: settle waits and analysis are not metered)
METERED = TRAINING + ("idle_baseline",)
#: every item, in print order
ITEMS = PARTS + ("total", "wall_time")
#: items of footprint.tsv computed from the run records alone (not from Snakemake's job times); the
#: summary page, written before the footprint job, shows these and the total's energy, no more
RECORD_ITEMS = TRAINING + ("idle_baseline", "settle_wait")
