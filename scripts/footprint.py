# Rule footprint: the study's own energy and time (see greenhp.cost.footprint), CO2e and cost at
# the config's current carbon settings. The summary page (rule plots) shows the same rows' numbers.
from greenhp.atomic import write_text
from greenhp.cost import METADATA_DIR, study_footprint, write_footprint
from greenhp.lean.settings import lean_settings

sm = snakemake  # noqa: F821
estimate = sm.input.estimate[0] if sm.input.estimate else None
# the lean design's rows (which design ran, what it saved): the runs table (an input, by name or among
# `after`) and, when the rule declares it, results/lean/decisions.tsv as input `decisions`
runs_table = sm.input.runs if "runs" in sm.input.keys() else next(
    (p for p in sm.input.after if p.endswith("runs.tsv")), None)
decisions = sm.input.get("decisions")  # one path (the rules name a single file), or None
skipped = []  # records failing the run-record check (rule aggregate lists them as invalid runs)
rows = study_footprint(sm.input.records, carbon=dict(sm.params.carbon), estimate_path=estimate,
                       metadata_dir=METADATA_DIR, extra_outputs=sm.input.after, skipped=skipped,
                       lean=lean_settings(sm.config), runs_path=runs_table, decisions_path=decisions)
write_footprint(rows, sm.output[0])
timed = next(r["count"] for r in rows if r["item"] == "job_overhead")
write_text(sm.log[0], "".join(f"run record {p} {why}: not counted\n" for p, why in skipped)
           + f"footprint of {len(sm.input.records)} run records ({timed} with Snakemake job times), "
           f"estimate: {estimate or 'none'}\n")
