# greenhp: hyperparameter-energy studies of deep-learning training.
# This file only sets up and includes; the stages live in workflow/rules/, the logic in src/greenhp/.

import sys

from snakemake.utils import min_version

from greenhp.study import StudyError, validate_config

min_version("9.0")


configfile: "config.yaml"


try:  # the schema (workflow/schemas/config.schema.yaml) also fills in the defaults
    validate_config(config)
except StudyError as err:
    sys.exit(f"greenhp: configuration rejected: {err}")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/mutants.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/footprint.smk"


# On a cluster only training is submitted as jobs; tables, statistics and plots run where Snakemake runs.
localrules:
    all,
    mutants,
    aggregate,
    stats,
    plots,
    footprint,


rule all:
    input:
        "results/mutants.tsv",
        "results/runs.tsv",
        ANALYSIS_TABLES,
        PLOTS,
        "results/footprint.tsv",
    default_target: True
