# greenhp re-analysis: the study's statistics, plots, recommendations, summary and report for an
# external runs table (results/runs.tsv format, e.g. published measurements), without loading the
# training study or training anything.
#
#   snakemake -s workflow/Reanalysis.smk --cores 1 --config runs_table=published.tsv analysis_dir=reanalysis
#   snakemake -s workflow/Reanalysis.smk --config runs_table=published.tsv analysis_dir=reanalysis \
#       --report reanalysis/report.html
#
# See docs/analysis.md. The analysis rules are the study's own (rules/analysis.smk).

import os
import sys
from pathlib import Path

from snakemake.utils import min_version

from greenhp.checks import schema_problem

min_version("9.0")


problem = schema_problem(config, os.path.join(workflow.basedir, "schemas", "reanalysis.schema.yaml"))  # fills defaults
if problem is not None:
    sys.exit(f"greenhp re-analysis: configuration rejected: {problem}")


ANALYSIS_DIR = os.path.normpath(config["analysis_dir"])
RUNS_DIR = config["runs_dir"]
LOG_DIR = f"{ANALYSIS_DIR}/logs"
if os.path.normpath(config["runs_table"]) == f"{ANALYSIS_DIR}/runs.tsv":
    raise ValueError(
        f"runs_table {config['runs_table']!r} is the file the import writes; "
        "copy it elsewhere or choose another analysis_dir"
    )


# Power timelines under runs_dir (files that exist before the workflow runs): declared inputs of rule
# plots, found once here.
RUN_TIMELINES = (
    sorted(str(p) for p in Path(RUNS_DIR).glob("**/rep*.timeline.tsv")) if RUNS_DIR else []
)


report: "report/workflow.rst"


include: "rules/analysis.smk"


rule all:
    input:
        f"{ANALYSIS_DIR}/runs.tsv",
        ANALYSIS_TABLES,
        PLOTS,
    default_target: True


rule import_runs:
    input:
        config["runs_table"],
    output:
        report(
            f"{ANALYSIS_DIR}/runs.tsv",
            caption="report/runs.rst",
            category="2. Runs",
        ),
    log:
        f"{LOG_DIR}/import_runs.log",
    params:
        metric_directions=config["analysis"].get("metric_directions", {}),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/import_runs.py"
