# Rule aggregate: every run record -> results/runs.tsv (one row per run).
from greenhp.aggregate import aggregate

aggregate(snakemake.input, snakemake.output[0], log=snakemake.log[0],
          carbon_g_per_kwh=snakemake.params.carbon_g_per_kwh, invalid_list=snakemake.output.invalid)
