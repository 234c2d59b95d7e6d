# Rule footprint: the study's own energy and time (see greenhp.estimate.footprint).
from greenhp.atomic import write_text
from greenhp.estimate import footprint, load_records, note_invalid, read_estimate_tsv, snakemake_jobs, write_footprint

sm = snakemake  # noqa: F821
skipped = []  # records failing the run-record check (rule aggregate lists them as invalid runs)
records, names = load_records(sm.input.records, skipped)
estimate = read_estimate_tsv(sm.input.estimate[0]) if sm.input.estimate else None
wanted = set(names) | set(sm.input.after)
jobs = {k: v for k, v in snakemake_jobs(".snakemake/metadata").items() if k in wanted}
rows = footprint(records, estimate=estimate, jobs=jobs, carbon=dict(sm.params.carbon), record_paths=names)
write_footprint(note_invalid(rows, skipped), sm.output[0])
write_text(sm.log[0], "".join(f"run record {p} {why}: not counted\n" for p, why in skipped)
           + f"footprint of {len(records)} run records, {len(jobs)} Snakemake job times, "
           f"estimate: {sm.input.estimate[0] if sm.input.estimate else 'none'}\n")
