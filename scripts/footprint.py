# Rule footprint: the study's own energy and time (see greenhp.cost.footprint), CO2e and cost at
# the config's current carbon settings. The summary page (rule plots) shows the same rows' numbers.
from greenhp.atomic import write_text
from greenhp.cost import METADATA_DIR, study_footprint, write_footprint

sm = snakemake  # noqa: F821
estimate = sm.input.estimate[0] if sm.input.estimate else None
skipped = []  # records failing the run-record check (rule aggregate lists them as invalid runs)
rows = study_footprint(sm.input.records, carbon=dict(sm.params.carbon), estimate_path=estimate,
                       metadata_dir=METADATA_DIR, extra_outputs=sm.input.after, skipped=skipped)
write_footprint(rows, sm.output[0])
timed = next(r["count"] for r in rows if r["item"] == "job_overhead")
write_text(sm.log[0], "".join(f"run record {p} {why}: not counted\n" for p, why in skipped)
           + f"footprint of {len(sm.input.records)} run records ({timed} with Snakemake job times), "
           f"estimate: {estimate or 'none'}\n")
