# Checkpoint lean_decide: the first wave's records -> results/lean/decisions.tsv (which groups get
# the remaining repetitions; greenhp.lean.waves.decide_first_wave, greenhp.lean.decide).
from greenhp.lean.settings import lean_settings
from greenhp.lean.waves import decide_first_wave
from greenhp.scriptlog import log_to
from greenhp.study import load_study

sm = snakemake  # noqa: F821
log = log_to(sm.log[0], "lean_decide")  # a failure's traceback goes there too
lines = decide_first_wave(list(sm.input), load_study(sm.config), lean_settings(sm.config),
                          sm.params.decision["analysis"], sm.output[0])
for line in lines:
    log.info(line)
