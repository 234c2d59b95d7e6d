# Rules train_single / train_pair: one measured training run (see greenhp.runner).
# params.spec is the run's identity; the settings that must not rerun a finished run (time limit,
# carbon intensity) come from the job's config (greenhp.study.run_settings).
import sys

from greenhp.procs import RunInterrupted, RunLocked
from greenhp.runner import run_from_params
from greenhp.study import run_settings

params = {**snakemake.params.spec, **run_settings(snakemake.config)}
try:
    run_from_params(params, snakemake.output[0], dict(snakemake.log.items()), snakemake.threads)
except RunInterrupted as err:  # stopped by a signal or its Snakemake died: no record (the log says why)
    sys.exit(err.exit_code)
except RunLocked as err:  # the same run is still training elsewhere (an orphan of a killed Snakemake)
    sys.exit(f"greenhp: {err}")
