# Rules train_single / train_pair: one measured training run (see greenhp.runner).
import sys

from greenhp.procs import RunInterrupted, RunLocked
from greenhp.runner import run_from_params

try:
    run_from_params(snakemake.params.spec, snakemake.output[0], dict(snakemake.log.items()), snakemake.threads)
except RunInterrupted as err:  # stopped by a signal or its Snakemake died: no record (the log says why)
    sys.exit(err.exit_code)
except RunLocked as err:  # the same run is still training elsewhere (an orphan of a killed Snakemake)
    sys.exit(f"greenhp: {err}")
