#!/usr/bin/env sh
# Run by Snakemake (--sdm conda) inside the new environment, once, after it is built: install greenhp
# (no dependencies: the environment file pins them) from the checkout whose Snakefile runs, which the
# Snakefile exports as GREENHP_SOURCE. Editable, so the jobs run the checkout's code as it is.
set -eu
: "${GREENHP_SOURCE:?GREENHP_SOURCE is unset: run Snakemake on greenhp's Snakefile}"
python -m pip install --no-deps --no-build-isolation -e "$GREENHP_SOURCE"
