# Checkpoint lean_decide: the first wave's records and derived rows -> results/lean/decisions.tsv
# (which groups get the remaining repetitions) and/or results/lean/derive_check.tsv (derived against
# measured; a failing family is trained in full) (greenhp.lean.waves.lean_checkpoint).
from greenhp.lean.settings import lean_settings
from greenhp.lean.waves import derived_jobs, lean_checkpoint
from greenhp.scriptlog import log_to
from greenhp.study import load_study

sm = snakemake  # noqa: F821
log = log_to(sm.log[0], "lean_decide")  # a failure's traceback goes there too
study = load_study(sm.config)
out = sm.output.keys()
lines = lean_checkpoint(list(sm.input), derived_jobs(study, sm.params.derived), study, lean_settings(sm.config),
                        sm.params.decision["analysis"], decisions_path=sm.output.decisions if "decisions" in out else None,
                        check_path=sm.output.check if "check" in out else None)
for line in lines:
    log.info(line)
