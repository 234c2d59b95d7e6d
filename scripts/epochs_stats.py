"""Snakemake script: the early-stop what-if and epochs-mutant predictions (greenhp.analysis.epochs)."""
from greenhp.analysis import EPOCH_TABLE_NAMES, analyse_epochs, write_tables
from greenhp.scriptlog import log_to

log_to(snakemake.log[0], "epochs_stats")  # noqa: F821 - a failure's traceback goes there too
sm = snakemake  # noqa: F821
tables = analyse_epochs(sm.input.epochs, sm.input.runs, tolerance=sm.params.tolerance,
                        metric_directions=getattr(sm.params, "metric_directions", None) or None)
write_tables(tables, {n: sm.output[n] for n in EPOCH_TABLE_NAMES})
