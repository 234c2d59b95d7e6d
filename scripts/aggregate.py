# Rule aggregate: every run record -> results/runs.tsv (one row per run), plus a lean study's rows
# derived from longer runs' epoch marks (params.derived, greenhp.lean.derive).
from greenhp.aggregate import aggregate
from greenhp.lean.waves import derived_jobs
from greenhp.study import load_study

sm = snakemake  # noqa: F821
derived = derived_jobs(load_study(sm.config), sm.params.derived) if sm.params.derived else []
aggregate(sm.input, sm.output[0], log=sm.log[0], carbon_g_per_kwh=sm.params.carbon_g_per_kwh,
          invalid_list=sm.output.invalid, derived=derived)
