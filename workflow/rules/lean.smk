# The adaptive lean design (docs/lean.md; off by default): once the first wave is trained (originals
# at every repetition, mutants at lean.first_wave), this checkpoint decides which comparison groups are
# still open (greenhp.lean.decide); run_records (common.smk) then asks for their remaining
# repetitions. It reads the records only (no training), so it is cheap and runs where Snakemake runs.
# A change of the band or of the analysis settings it uses (params) decides again from the same
# first wave; records already trained are never trained again.
# With derived epochs rows (lean.derive_epochs, greenhp.lean.derive) it also checks derived against
# measured for the check configurations (results/lean/derive_check.tsv): a family whose check fails
# is trained in full after it. It runs whenever there is something to decide (LEAN_CHECKPOINT).
if LEAN_CHECKPOINT:

    checkpoint lean_decide:
        input:
            FIRST_WAVE_RECORDS,
        output:
            **({"decisions": LEAN_DECISIONS} if LEAN.adaptive else {}),
            **({"check": LEAN_CHECK} if DERIVE.families else {}),
        log:
            "logs/lean_decide.log",
        params:
            decision=decision_params(LEAN, config["analysis"]),
            # the first wave's derived rows (the plan: derive_epochs, derive_check, the families)
            derived=derived_params(FIRST_WAVE_DERIVED),
        conda:
            "../../envs/analysis.yaml"
        script:
            "../../scripts/lean_decide.py"

    localrules:
        lean_decide,
