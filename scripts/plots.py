"""Snakemake script: the study's figures (PNG + SVG beside it) and the summary page (rst + html)."""
import logging

from greenhp.analysis import TABLE_NAMES, load_runs, read_tables
from greenhp.analysis.plots import PLOT_NAMES, write_named
from greenhp.analysis.summary import rst_to_html, write_summary

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, force=True)  # noqa: F821
logging.captureWarnings(True)
sm = snakemake  # noqa: F821
runs = load_runs(sm.input.runs, getattr(sm.params, "metric_directions", None) or None)
tables = read_tables({n: sm.input[n] for n in TABLE_NAMES if n in sm.input.keys()})
write_named(runs, tables, {n: sm.output[n] for n in PLOT_NAMES if n in sm.output.keys()},
            runs_dir=getattr(sm.params, "runs_dir", None) or None)
write_summary(runs, tables, sm.output.summary, alpha=getattr(sm.params, "alpha", 0.05))
if "summary_html" in sm.output.keys():
    rst_to_html(sm.output.summary, sm.output.summary_html)
