# The adaptive lean design (docs/lean.md; off by default): once the first wave is trained (originals
# at every repetition, mutants at lean.first_wave), this checkpoint decides which comparison groups are
# still open (greenhp.lean.decide); run_records (common.smk) then asks for their remaining
# repetitions. It reads the records only (no training), so it is cheap and runs where Snakemake runs.
# A change of the band or of the analysis settings it uses (params) decides again from the same
# first wave; records already trained are never trained again.
if LEAN.adaptive:

    checkpoint lean_decide:
        input:
            FIRST_WAVE_RECORDS,
        output:
            LEAN_DECISIONS,
        log:
            "logs/lean_decide.log",
        params:
            decision=decision_params(LEAN, config["analysis"]),
        conda:
            "../../envs/analysis.yaml"
        script:
            "../../scripts/lean_decide.py"

    localrules:
        lean_decide,
