"""Snakemake script: the early-stop what-if and epochs-mutant predictions (greenhp.analysis.epochs)."""
import logging

from greenhp.analysis import EPOCH_TABLE_NAMES, analyse_epochs, write_tables

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, force=True)  # noqa: F821
logging.captureWarnings(True)
sm = snakemake  # noqa: F821
tables = analyse_epochs(sm.input.epochs, sm.input.runs, tolerance=sm.params.tolerance)
write_tables(tables, {n: sm.output[n] for n in EPOCH_TABLE_NAMES})
