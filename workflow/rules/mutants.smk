rule mutants:
    output:
        report(
            "results/mutants.tsv",
            caption="../report/mutants.rst",
            category="1. Study design",
        ),
    log:
        "logs/mutants.log",
    params:
        table=lambda wildcards: STUDY.mutants,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/mutants.py"
