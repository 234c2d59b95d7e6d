"""Snakemake script: results/recommendations.tsv (greener settings that keep the task metric)."""
import logging

from greenhp.analysis import load_runs, read_tables, recommend

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, force=True)  # noqa: F821
sm = snakemake  # noqa: F821
runs = load_runs(sm.input.runs)
comparisons = read_tables({"c": sm.input.comparisons})["c"]
recs = recommend(comparisons, runs, alpha=sm.params.alpha,
                 carbon_g_per_kwh=sm.params.carbon_g_per_kwh, price_per_kwh=sm.params.price_per_kwh)
recs.to_csv(sm.output[0], sep="\t", index=False)
