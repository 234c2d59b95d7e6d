"""Snakemake script: the study's figures (PNG + SVG beside it) and the summary page (rst + html)."""
from greenhp.analysis import TABLE_NAMES, read_tables
from greenhp.analysis.epochs import load_epochs
from greenhp.analysis.plots import EPOCH_PLOT_NAMES, PLOT_NAMES, write_named
from greenhp.analysis.summary import footprint_lines, rst_to_html, what_if_lines, write_summary
from greenhp.analysis.tables import load_checked
from greenhp.analysis.windows import DEFAULT_WINDOW
from greenhp.lean.settings import lean_settings
from greenhp.scriptlog import log_to

log_to(snakemake.log[0], "plots")  # noqa: F821 - a failure's traceback goes there too
sm = snakemake  # noqa: F821
runs = load_checked(sm.input.runs_checked)  # the table the statistics job loaded and checked
tables = read_tables({n: sm.input[n] for n in TABLE_NAMES if n in sm.input.keys()})
window = getattr(sm.params, "window", DEFAULT_WINDOW)
epochs = load_epochs(sm.input.epochs) if "epochs" in sm.input.keys() else None
early = None
if "early_stop" in sm.input.keys():
    ep = read_tables({n: sm.input[n] for n in ("early_stop", "epoch_predictions")})
    early = what_if_lines(ep["early_stop"], ep["epoch_predictions"], sm.params.tolerance)
write_named(runs, tables, {n: sm.output[n] for n in PLOT_NAMES + EPOCH_PLOT_NAMES if n in sm.output.keys()},
            runs_dir=getattr(sm.params, "runs_dir", None) or None, window=window, epochs=epochs,
            workers=sm.threads, metric_directions=getattr(sm.params, "metric_directions", None) or None,
            timelines=list(sm.input.timelines) if "timelines" in sm.input.keys() else [])
records = list(sm.input.records) if "records" in sm.input.keys() else []  # none in a re-analysis
estimate = sm.input.estimate[0] if "estimate" in sm.input.keys() and len(sm.input.estimate) else None
# which design ran and what it saved (the same rows as footprint.tsv): the study's lean settings, the
# runs table, and results/lean/decisions.tsv when the rule declares it as input `decisions`
decisions = sm.input.get("decisions")  # one path (the rules name a single file), or None
footprint = footprint_lines(records, dict(sm.params.carbon), estimate, lean=lean_settings(sm.config),
                            runs_path=sm.input.runs, decisions_path=decisions) if records else None
# a lean study's check of derived epochs rows (results/lean/derive_check.tsv, the checkpoint's table)
check = read_tables({"c": sm.input.derive_check})["c"] if "derive_check" in sm.input.keys() else None
write_summary(runs, tables, sm.output.summary, alpha=getattr(sm.params, "alpha", 0.05), window=window,
              early_stop_lines=early, footprint=footprint, derive_check=check)
if "summary_html" in sm.output.keys():
    rst_to_html(sm.output.summary, sm.output.summary_html)
