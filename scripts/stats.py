"""Snakemake script: every statistics table of the study (see greenhp.analysis.analyse)."""
from greenhp.analysis import TABLE_NAMES, analyse, load_runs, write_tables
from greenhp.analysis.tables import save_checked
from greenhp.scriptlog import log_to

log_to(snakemake.log[0], "stats")  # noqa: F821 - a failure's traceback goes there too
p = snakemake.params  # noqa: F821
runs = load_runs(snakemake.input.runs, getattr(p, "metric_directions", None) or None)  # noqa: F821
save_checked(runs, snakemake.output.runs_checked)  # noqa: F821 - for the figures job (temp)
tables = analyse(runs, alpha=p.alpha, validated=True,
                 delta_threshold=p.delta_threshold, n_boot=p.n_boot, seed=p.seed,
                 carbon_g_per_kwh=p.carbon_g_per_kwh, price_per_kwh=p.price_per_kwh,
                 test=getattr(p, "test", "welch"),
                 metric_directions=getattr(p, "metric_directions", None) or None,
                 window=getattr(p, "window", "whole"),
                 workers=snakemake.threads)  # noqa: F821
write_tables(tables, {n: snakemake.output[n] for n in TABLE_NAMES if n in snakemake.output.keys()})  # noqa: F821
