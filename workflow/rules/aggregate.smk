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
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/aggregate.py"
