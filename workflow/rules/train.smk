rule train_single:
    output:
        "results/runs/single/{mutant_id}/rep{rep}.json",
    log:
        main="logs/train_single/{mutant_id}/rep{rep}.log",
    params:
        spec=run_params("single"),
    threads: train_threads()
    retries: config["train"]["retries"]
    resources:
        gpu=GPU_PER_JOB,
    run:
        # run: (not script:) keeps Python start-up out of every one of the many training jobs;
        # the measured training itself is a child process started by greenhp.runner.
        run_from_params(params.spec, output[0], dict(log.items()), threads)


rule train_pair:
    output:
        "results/runs/pair/{mutant_id}/{partner}/rep{rep}.json",
    log:
        main="logs/train_pair/{mutant_id}/{partner}/rep{rep}.log",
        partner="logs/train_pair/{mutant_id}/{partner}/rep{rep}.partner.log",
    params:
        spec=run_params("pair"),
    threads: train_threads()
    retries: config["train"]["retries"]
    resources:
        gpu=GPU_PER_JOB,
    run:
        # run: (not script:) keeps Python start-up out of every one of the many training jobs;
        # the measured training itself is a child process started by greenhp.runner.
        run_from_params(params.spec, output[0], dict(log.items()), threads)
