"""Snakemake script (workflow/Reanalysis.smk, rule import_runs): check an external runs table and
write it as <analysis_dir>/runs.tsv. A bad table stops the job with one message naming the problem
(e.g. every missing required column)."""
import logging
import sys

from greenhp.analysis.tables import import_runs

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, force=True)  # noqa: F821
src, dst = snakemake.input[0], snakemake.output[0]  # noqa: F821
try:
    table = import_runs(src, dst, snakemake.params.get("metric_directions") or None)  # noqa: F821
except ValueError as exc:
    msg = f"greenhp re-analysis: rejected runs table {exc}"
    logging.error(msg)
    print(msg, file=sys.stderr)
    sys.exit(1)
logging.info("imported %d runs (%d ok) from %s", len(table), int((table["status"] == "ok").sum()), src)
