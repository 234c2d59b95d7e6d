"""Snakemake script: every statistics table of the study (see greenhp.analysis.analyse).
``analysis.window: training_strict`` with a subject whose runs lack the training window stops the
job with one line naming the runs table and those subjects (greenhp.analysis.windows.WindowError)."""
import logging
import sys

from greenhp.analysis import TABLE_NAMES, analyse, load_runs, write_tables
from greenhp.analysis.tables import save_checked
from greenhp.analysis.windows import DEFAULT_WINDOW, WindowError
from greenhp.scriptlog import log_to

log_to(snakemake.log[0], "stats")  # noqa: F821 - a failure's traceback goes there too
p = snakemake.params  # noqa: F821
runs = load_runs(snakemake.input.runs, getattr(p, "metric_directions", None) or None)  # noqa: F821
save_checked(runs, snakemake.output.runs_checked)  # noqa: F821 - for the figures job (temp)
try:
    tables = analyse(runs, alpha=p.alpha, validated=True,
                     delta_threshold=p.delta_threshold, n_boot=p.n_boot, seed=p.seed,
                     carbon_g_per_kwh=p.carbon_g_per_kwh, price_per_kwh=p.price_per_kwh,
                     test=getattr(p, "test", "welch"),
                     metric_directions=getattr(p, "metric_directions", None) or None,
                     window=getattr(p, "window", DEFAULT_WINDOW),
                     workers=snakemake.threads)  # noqa: F821
except WindowError as exc:
    msg = f"greenhp: {snakemake.input.runs}: {exc}"  # noqa: F821
    logging.error(msg)
    print(msg, file=sys.stderr)
    sys.exit(1)
write_tables(tables, {n: snakemake.output[n] for n in TABLE_NAMES if n in snakemake.output.keys()})  # noqa: F821
