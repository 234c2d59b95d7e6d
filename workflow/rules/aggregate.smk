rule aggregate:
    input:
        RUN_RECORDS,  # common.smk: a lean study's first wave and extensions (checkpoint lean_decide)
    output:
        report(
            "results/runs.tsv",
            caption="../report/runs.rst",
            category="2. Runs",
        ),
        # the records found unusable (one path a line): the next start moves them aside and retrains
        # them (common.smk); they stay in place meanwhile, since later rules take them as inputs
        invalid=INVALID_RECORDS_LIST,
    log:
        "logs/aggregate.log",
    params:
        carbon_g_per_kwh=config["carbon"]["intensity_g_per_kwh"],  # CO2e from the joules, never a retrain
        # a lean study's rows read from longer runs' epoch marks (common.smk; [] without derived rows)
        derived=DERIVED_RUNS,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/aggregate.py"


# Per-epoch energy (phase marks, greenhp.energy.phases): cumulative from each run's training start.
EPOCHS_TABLE = "results/epochs.tsv"


rule aggregate_epochs:
    input:
        RUN_RECORDS,  # trained records only: a derived row has no record
    output:
        report(
            EPOCHS_TABLE,
            caption="../report/epochs.rst",
            category="2. Runs",
        ),
    log:
        "logs/aggregate_epochs.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../../scripts/aggregate_epochs.py"


localrules:
    aggregate_epochs,
