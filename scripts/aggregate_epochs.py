# Rule aggregate_epochs: every run record -> results/epochs.tsv (one row per run, process and epoch).
from greenhp.aggregate import aggregate_epochs

aggregate_epochs(snakemake.input, snakemake.output[0], log=snakemake.log[0])  # noqa: F821
