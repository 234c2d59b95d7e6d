"""The names of the analysis's figures, without loading matplotlib: the workflow's rules
(workflow/rules/analysis.smk) take their output file names from here and from greenhp.analysis
(TABLE_NAMES, EPOCH_TABLE_NAMES) when the Snakefile is parsed.

Bottom layer of greenhp.analysis (docs/architecture.md): imports nothing.
"""

#: Figures of every study and re-analysis (greenhp.analysis.plots.write_named draws each).
PLOT_NAMES = ("correlation_heatmap", "hp_vs_energy", "tradeoff", "sensitivity", "power_timeline")
#: figures drawn from results/epochs.tsv (studies with phase marks; not in a re-analysis)
EPOCH_PLOT_NAMES = ("epoch_curves",)
