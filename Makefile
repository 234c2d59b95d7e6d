# Quick start: `make study` runs the default study (`make study CONFIG=my.yaml`: another one),
# `make test` runs the test suite.
# Both create .venv (Python >= 3.11) and install everything on first use.

PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
CONFIG ?=            # a study config (e.g. studies/paper.yaml); empty: the default study, config.yaml
BIN := $(VENV)/bin
SMK_CONFIG := $(if $(strip $(CONFIG)),--configfile $(strip $(CONFIG)))
STAMP := $(VENV)/.greenhp-installed

.PHONY: study resume report test lint clean-results

study: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(SMK_CONFIG)
	@$(MAKE) --no-print-directory report

# After a hard kill (SIGKILL, lost node): drop the stale lock, then the same command trains only what is missing.
# Only when no other Snakemake runs in this directory (docs/cluster.md).
resume: $(STAMP)
	$(BIN)/snakemake --unlock
	$(BIN)/snakemake --cores $(CORES) $(SMK_CONFIG)
	@$(MAKE) --no-print-directory report

# The HTML report is rebuilt only when a result is newer than it.
report: $(STAMP)
	@if [ ! -f results/report.html ] || [ -n "$$(find results -newer results/report.html -type f -print -quit)" ]; then \
		$(BIN)/snakemake --cores $(CORES) $(SMK_CONFIG) --report results/report.html; \
	else echo "results/report.html is up to date"; fi

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/snakemake --lint

$(STAMP): requirements.txt pyproject.toml
	@sh scripts/bootstrap-venv.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

clean-results:
	rm -rf results/runs results/stats results/plots results/*.tsv results/runs_invalid.txt results/*.rst results/report.html logs .snakemake
