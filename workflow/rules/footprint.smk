# The study's own footprint (greenhp.cost.footprint): energy and time of every run (ok or not),
# idle baselines, settle waits, the other jobs' times, against results/estimate.tsv when
# `greenhp plan --estimate` wrote one; kWh, CO2e and cost at the current carbon settings. It runs last:
# it needs every other output's job time (read from Snakemake's own .snakemake/metadata, the one file
# it reads that no rule declares: Snakemake writes it for each output after its job ends).
rule footprint:
    input:
        records=RUN_RECORDS,
        after=["results/mutants.tsv", "results/runs.tsv"] + ANALYSIS_TABLES + PLOTS,
        estimate=estimate_if_present,
        # a lean study: which groups the checkpoint extended (the design and its saving, docs/lean.md)
        **({"decisions": LEAN_DECISIONS} if LEAN.adaptive else {}),
    output:
        report(
            "results/footprint.tsv",
            caption="../report/footprint.rst",
            category="0. Summary",
        ),
    log:
        "logs/footprint.log",
    params:
        carbon=config["carbon"],
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/footprint.py"
