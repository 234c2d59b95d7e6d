STAT_TABLES = [
    "correlations",
    "comparisons",
    "win_tie_loss",
    "sensitivity",
    "sensitivity_tests",
    "variability",
    "pareto",
]
PLOT_NAMES = ["correlation_heatmap", "hp_vs_energy", "tradeoff", "sensitivity"]
ANALYSIS_TABLES = [f"results/stats/{name}.tsv" for name in STAT_TABLES] + ["results/recommendations.tsv"]
PLOTS = [f"results/plots/{name}.png" for name in PLOT_NAMES] + ["results/summary.rst"]


rule stats:
    input:
        runs="results/runs.tsv",
    output:
        **{
            name: report(
                f"results/stats/{name}.tsv",
                caption=f"../report/{name}.rst",
                category="3. Statistics",
            )
            for name in STAT_TABLES
        },
        recommendations=report(
            "results/recommendations.tsv",
            caption="../report/recommendations.rst",
            category="5. Recommendations",
        ),
    log:
        "logs/stats.log",
    params:
        **config["analysis"],
        carbon_g_per_kwh=config["carbon"]["intensity_g_per_kwh"],
        price_per_kwh=config["carbon"]["price_per_kwh"],
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/stats.py"


rule plots:
    input:
        runs="results/runs.tsv",
        **{name: f"results/stats/{name}.tsv" for name in STAT_TABLES},
        recommendations="results/recommendations.tsv",
    output:
        **{
            name: report(
                f"results/plots/{name}.png",
                caption=f"../report/{name}_plot.rst",
                category="4. Plots",
            )
            for name in PLOT_NAMES
        },
        svg=[f"results/plots/{name}.svg" for name in PLOT_NAMES],
        summary=report("results/summary.rst", caption="../report/summary.rst", category="0. Summary"),
    log:
        "logs/plots.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/plots.py"
