# Rule footprint: the study's own energy and time (see greenhp.estimate.footprint).
from greenhp.atomic import write_text
from greenhp.estimate import footprint, load_records, read_estimate_tsv, snakemake_jobs, write_footprint

sm = snakemake  # noqa: F821
records, names = load_records(sm.input.records)
estimate = read_estimate_tsv(sm.input.estimate[0]) if sm.input.estimate else None
wanted = set(names) | set(sm.input.after)
jobs = {k: v for k, v in snakemake_jobs(".snakemake/metadata").items() if k in wanted}
rows = footprint(records, estimate=estimate, jobs=jobs, carbon=dict(sm.params.carbon), record_paths=names)
write_footprint(rows, sm.output[0])
write_text(sm.log[0], f"footprint of {len(records)} run records, {len(jobs)} Snakemake job times, "
           f"estimate: {sm.input.estimate[0] if sm.input.estimate else 'none'}\n")
