# Rules train_single / train_pair: one measured training run (see greenhp.runner).
from greenhp.runner import run_from_params

run_from_params(snakemake.params.spec, snakemake.output[0], dict(snakemake.log.items()), snakemake.threads)
