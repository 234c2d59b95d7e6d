# Statistics, recommendations, plots and the summary page of a runs table.
#
# Used by the study (Snakefile: results/runs.tsv from rule aggregate) and by the re-analysis entry
# point (workflow/Reanalysis.smk: <analysis_dir>/runs.tsv from rule import_runs). Both set
# ANALYSIS_DIR and RUNS_DIR before the include when they differ from the defaults below.
ANALYSIS_DIR = globals().get("ANALYSIS_DIR", "results")
# Where run records (and power timelines beside them) live; "" when there are none.
RUNS_DIR = globals().get("RUNS_DIR", f"{ANALYSIS_DIR}/runs")
LOG_DIR = globals().get("LOG_DIR", "logs")
# The per-epoch table (rule aggregate_epochs in aggregate.smk); "" where there is none (re-analysis).
EPOCHS_TABLE = globals().get("EPOCHS_TABLE", "")
# The run records and the estimate the summary's footprint section reads (common.smk in a study;
# none in a re-analysis): declared inputs of rule plots, like every file a rule reads.
RUN_RECORDS = globals().get("RUN_RECORDS", [])
ESTIMATE_INPUT = globals().get("estimate_if_present", [])
# Power timelines the figure may show: the training jobs' (common.smk), or in a re-analysis those
# found under runs_dir when the workflow is parsed. The figure looks at no other file.
RUN_TIMELINES = globals().get("RUN_TIMELINES", [])
# A lean study's decisions (common.smk; none in a re-analysis or a full design): the summary's
# footprint section names the design, the groups extended and the saving.
LEAN_INPUT = {"decisions": LEAN_DECISIONS} if getattr(globals().get("LEAN"), "adaptive", False) else {}
# ... and its check of derived epochs rows against measured ones (the summary's section on them)
if getattr(globals().get("DERIVE"), "families", ()):
    LEAN_INPUT["derive_check"] = LEAN_CHECK

# The output names are the package's (neither loads scipy or matplotlib).
from greenhp.analysis import EPOCH_TABLE_NAMES, TABLE_NAMES
from greenhp.analysis.outputs import EPOCH_PLOT_NAMES, PLOT_NAMES
from greenhp.analysis.text import rst_escape
from greenhp.analysis.windows import DEFAULT_WINDOW

# User-supplied text shown by the report's front page (workflow/report/workflow.rst), escaped for
# reStructuredText: the report renders it with raw HTML enabled, so nothing may reach it unescaped.
config["_report_rst"] = {
    "study": rst_escape(config.get("study", "")),
    "runs_table": rst_escape(config.get("runs_table", "")),
}

# The statistics and the figures each split into two independent parts that run side by side in
# forked processes (greenhp.parallel): correlations beside comparisons, the figures of the runs
# beside those of the tables. Snakemake gives a job at most --cores; with --cores 1 they run in turn.
ANALYSIS_THREADS = 2

# results/stats/<name>.tsv; the recommendations go to results/recommendations.tsv
STAT_TABLES = [name for name in TABLE_NAMES if name != "recommendations"]
EPOCH_STATS = list(EPOCH_TABLE_NAMES) if EPOCHS_TABLE else []
FIGURE_NAMES = list(PLOT_NAMES) + (list(EPOCH_PLOT_NAMES) if EPOCHS_TABLE else [])
ANALYSIS_TABLES = (
    [f"{ANALYSIS_DIR}/stats/{name}.tsv" for name in STAT_TABLES]
    + [f"{ANALYSIS_DIR}/recommendations.tsv"]
    + [f"{ANALYSIS_DIR}/stats/{name}.tsv" for name in EPOCH_STATS]
)
PLOTS = [f"{ANALYSIS_DIR}/plots/{name}.png" for name in FIGURE_NAMES] + [
    f"{ANALYSIS_DIR}/summary.rst",
    f"{ANALYSIS_DIR}/summary.html",
]


rule stats:
    input:
        runs=f"{ANALYSIS_DIR}/runs.tsv",
    output:
        **{
            name: report(
                f"{ANALYSIS_DIR}/stats/{name}.tsv",
                caption=f"../report/{name}.rst",
                category="3. Statistics",
            )
            for name in STAT_TABLES
        },
        recommendations=report(
            f"{ANALYSIS_DIR}/recommendations.tsv",
            caption="../report/recommendations.rst",
            category="5. Recommendations",
        ),
        # the checked runs table, handed to rule plots so that it need not parse it again
        runs_checked=temp(f"{ANALYSIS_DIR}/stats/runs_checked.pkl"),
    log:
        f"{LOG_DIR}/stats.log",
    params:
        **config["analysis"],
        carbon_g_per_kwh=config["carbon"]["intensity_g_per_kwh"],
        price_per_kwh=config["carbon"]["price_per_kwh"],
    threads: ANALYSIS_THREADS
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/stats.py"


if EPOCHS_TABLE:

    rule epochs_stats:
        input:
            runs=f"{ANALYSIS_DIR}/runs.tsv",
            epochs=EPOCHS_TABLE,
        output:
            **{
                name: report(
                    f"{ANALYSIS_DIR}/stats/{name}.tsv",
                    caption=f"../report/{name}.rst",
                    category="3. Statistics",
                )
                for name in EPOCH_STATS
            },
        log:
            f"{LOG_DIR}/epochs_stats.log",
        params:
            # a fraction of each metric curve's span (the schema fills in the default)
            tolerance=config["analysis"].get("early_stop_tolerance"),
            metric_directions=config["analysis"].get("metric_directions", {}),
        conda:
            "../../envs/analysis.yaml"
        script:
            "../../scripts/epochs_stats.py"

    localrules:
        epochs_stats,


rule plots:
    input:
        runs=f"{ANALYSIS_DIR}/runs.tsv",
        runs_checked=f"{ANALYSIS_DIR}/stats/runs_checked.pkl",
        **{name: f"{ANALYSIS_DIR}/stats/{name}.tsv" for name in STAT_TABLES},
        recommendations=f"{ANALYSIS_DIR}/recommendations.tsv",
        **({"epochs": EPOCHS_TABLE} if EPOCHS_TABLE else {}),
        **{name: f"{ANALYSIS_DIR}/stats/{name}.tsv" for name in EPOCH_STATS},
        records=RUN_RECORDS,
        estimate=ESTIMATE_INPUT,
        timelines=RUN_TIMELINES,
        **LEAN_INPUT,
    output:
        **{
            name: report(
                f"{ANALYSIS_DIR}/plots/{name}.png",
                caption=f"../report/{name}_plot.rst",
                category="4. Plots",
            )
            for name in FIGURE_NAMES
        },
        svg=[f"{ANALYSIS_DIR}/plots/{name}.svg" for name in FIGURE_NAMES],
        summary=f"{ANALYSIS_DIR}/summary.rst",
        summary_html=report(
            f"{ANALYSIS_DIR}/summary.html",
            caption="../report/summary.rst",
            category="0. Summary",
        ),
    log:
        f"{LOG_DIR}/plots.log",
    params:
        alpha=config["analysis"]["alpha"],
        window=config["analysis"].get("window", DEFAULT_WINDOW),
        tolerance=config["analysis"].get("early_stop_tolerance"),
        metric_directions=config["analysis"].get("metric_directions", {}),
        # the summary's footprint section: CO2e and cost at the current settings (a change reruns it)
        carbon=config["carbon"],
        # the records' folder (the paths of the power timelines, among input.timelines, follow from
        # it and the runs table); a function, as it is a folder, not a file prefix
        runs_dir=lambda wildcards: RUNS_DIR,
    threads: ANALYSIS_THREADS
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/plots.py"
