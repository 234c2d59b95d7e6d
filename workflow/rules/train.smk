rule train_single:
    output:
        "results/runs/single/{mutant_id}/rep{rep}.json",
        **({"timeline": "results/runs/single/{mutant_id}/rep{rep}.timeline.tsv"} if TIMELINES else {}),
    log:
        main="logs/train_single/{mutant_id}/rep{rep}.log",
    params:
        spec=run_params("single"),
    threads: train_threads()
    retries: config["train"]["retries"]  # None (the default): --retries of the profile or command line
    resources:
        gpu=GPU_PER_JOB,
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/train.py"


rule train_pair:
    output:
        "results/runs/pair/{mutant_id}/{partner}/rep{rep}.json",
        **({"timeline": "results/runs/pair/{mutant_id}/{partner}/rep{rep}.timeline.tsv"} if TIMELINES else {}),
    log:
        main="logs/train_pair/{mutant_id}/{partner}/rep{rep}.log",
        partner="logs/train_pair/{mutant_id}/{partner}/rep{rep}.partner.log",
    params:
        spec=run_params("pair"),
    threads: train_threads()
    retries: config["train"]["retries"]
    resources:
        gpu=GPU_PER_JOB,
    conda:
        "../../envs/train.yaml"
    script:
        "../../scripts/train.py"
