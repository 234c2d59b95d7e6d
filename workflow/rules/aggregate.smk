rule aggregate:
    input:
        SINGLE_RECORDS,
        PAIR_RECORDS,
    output:
        report(
            "results/runs.tsv",
            caption="../report/runs.rst",
            category="2. Runs",
        ),
    log:
        "logs/aggregate.log",
    params:
        carbon_g_per_kwh=config["carbon"]["intensity_g_per_kwh"],  # CO2e from the joules, never a retrain
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/aggregate.py"
