# Rule mutants: write the study's mutant table (computed when the workflow was parsed) for the record.
from greenhp.atomic import write_text
from greenhp.mutation import to_tsv

write_text(snakemake.output[0], to_tsv(snakemake.params.table))
