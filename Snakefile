# greenhp: hyperparameter-energy studies of deep-learning training.
# This file only sets up and includes; the stages live in workflow/rules/, the logic in src/greenhp/.

import os
import sys

from snakemake.utils import min_version

from greenhp.study import StudyError, check_config_files, validate_config

min_version("9.0")


# A study is its config file: with --configfile X the study is X alone; the embedded default study
# (config.yaml) applies only when no config file is given. (A `configfile:` directive would be merged
# with the command line's files, so the default study's subjects would join every other study.)
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


try:  # the schema (workflow/schemas/config.schema.yaml) also fills in the defaults
    check_config_files(workflow.overwrite_configfiles or ["config.yaml"])  # e.g. a key written twice
    validate_config(config)
except StudyError as err:
    sys.exit(f"greenhp: configuration rejected: {err}")


# With --sdm conda, envs/*.post-deploy.sh install greenhp from this checkout into each environment.
# (Set here, not read: the linter's "envvars" check is about variables a workflow needs from outside.)
os.environ.update(GREENHP_SOURCE=workflow.basedir)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/mutants.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/lean.smk"
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
        INVALID_RECORDS_LIST,  # removed at parse time once its records are set aside: aggregate reruns
        ANALYSIS_TABLES,
        PLOTS,
        "results/footprint.tsv",
    default_target: True
