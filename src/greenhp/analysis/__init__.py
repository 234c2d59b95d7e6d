"""Analysis of a hyperparameter-energy study: statistics, recommendations, plots, summary.

``analyse(runs)`` returns every table the workflow writes to ``results/stats/<name>.tsv``
(see TABLE_NAMES); write each with :func:`write_tables` (tab-separated, no index, header kept
when empty).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import pandas as pd

from .windows import DEFAULT_WINDOW
from .recommend import DEFAULT_CARBON_G_PER_KWH, DEFAULT_PRICE_PER_KWH, pareto_front, recommend
from .tables import ENERGY_METRICS, METRICS, REQUIRED_COLUMNS, load_runs, validate_runs

# The statistics (scipy) load on first use: the import job only needs the tables, and scipy.stats
# alone takes about a second to import. Name -> the module (one per question) that defines it.
_STATS = {"correlations": "correlation", "compare_mutants": "comparison",
          "win_tie_loss": "comparison", "sensitivity": "pair_sensitivity"}


def __getattr__(name: str):
    if name in _STATS:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_STATS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

TABLE_NAMES = ("correlations", "comparisons", "win_tie_loss", "sensitivity", "sensitivity_tests",
               "variability", "recommendations", "pareto")

__all__ = [
    "TABLE_NAMES", "REQUIRED_COLUMNS", "analyse", "load_runs", "validate_runs", "write_tables",
    "read_tables",
    "correlations", "compare_mutants", "win_tie_loss", "sensitivity", "recommend", "pareto_front",
]


def analyse(runs: pd.DataFrame | str | Path, alpha: float = 0.05, delta_threshold: float = 0.147,
            n_boot: int = 1000, seed: int = 0,
            carbon_g_per_kwh: float = DEFAULT_CARBON_G_PER_KWH,
            price_per_kwh: float = DEFAULT_PRICE_PER_KWH, test: str = "welch",
            ci: float = 0.95, metric_directions: Mapping[str, str] | None = None,
            window: str = DEFAULT_WINDOW, workers: int = 1,
            validated: bool = False) -> dict[str, pd.DataFrame]:
    """Run every analysis on a runs table (a DataFrame or a path to ``runs.tsv``).

    ``test``: the two-sample test of the verdicts, "welch" (default), "student" (the reference
    study's) or "mwu". ``metric_directions``: {metric_name: "maximize"|"minimize"} for runs whose
    table does not declare the direction. ``window``: "training" (default: the training window,
    runs-table columns ``train_*``, for every subject whose ok runs all have it; any other subject
    on the whole-process window), "training_strict" (the same, but a subject without the training
    window raises greenhp.analysis.epochs.WindowError, one line) or "whole" (the training
    process's whole energy); see greenhp.analysis.epochs.window_plan. Every table gets a
    ``window`` column (the subject's window) before its metric column, and that column names the
    runs-table column the numbers come from (``train_total_energy_j`` or ``total_energy_j``).
    ``workers``: processes to use (the rule's threads): with 2, the
    correlations and the mutant comparisons run side by side (greenhp.parallel); the tables are
    the same. ``validated``: ``runs`` is a DataFrame that load_runs / validate_runs returned
    (with the same ``metric_directions``), not checked again. Returns ``{name: DataFrame}`` for
    every name in TABLE_NAMES.
    """
    from greenhp.parallel import blas_threads, run_parts

    from .windows import label_windows, require_window, subject_windows, window_view
    from .comparison import compare_mutants, win_tie_loss
    from .correlation import correlations
    from .pair_sensitivity import sensitivity

    if isinstance(runs, (str, Path)):
        runs = load_runs(runs, metric_directions)
    elif not validated:
        runs = validate_runs(runs, metric_directions)
    windows = subject_windows(require_window(runs, window))
    # every subject on its own window under the whole-run names; label_windows renames after
    view = window_view(runs, windows)
    metrics, energy = METRICS, "total_energy_j"

    def comparisons() -> dict[str, pd.DataFrame]:
        comp = compare_mutants(view, alpha=alpha, delta_threshold=delta_threshold, n_boot=n_boot,
                               seed=seed, ci=ci, test=test, metrics=metrics)
        per_mutant, tests, cv = sensitivity(view, comp, energy_metric=energy,
                                            cv_metrics=ENERGY_METRICS + ("duration_s",))
        return {
            "comparisons": comp,
            "win_tie_loss": win_tie_loss(comp, energy_metrics=ENERGY_METRICS),
            "sensitivity": per_mutant,
            "sensitivity_tests": tests,
            "variability": cv,
            "recommendations": recommend(comp, view, alpha=alpha, carbon_g_per_kwh=carbon_g_per_kwh,
                                         price_per_kwh=price_per_kwh, energy_metric=energy),
            "pareto": pareto_front(view, energy_metric=energy),
        }

    # one BLAS thread per process: the job's cores go to the parts (the products here are thin,
    # and measured faster on one thread than on two)
    with blas_threads(1):
        parts = run_parts({
            "correlations": lambda: correlations(view, n_boot=n_boot, seed=seed, ci=ci,
                                                 metrics=metrics),
            "comparisons": comparisons,
        }, workers)
    tables = {"correlations": parts["correlations"], **parts["comparisons"]}
    comp, per = tables["comparisons"], tables["sensitivity"]
    tests = tables["sensitivity_tests"]
    # the overall single-vs-pair tests pool subjects: matched ones those with matched mutants,
    # unmatched ones every subject with an energy comparison
    pooled = [(tests["kind"] == "matched", set(per["subject"].dropna())),
              (tests["kind"] == "unmatched", set(comp.loc[comp["metric"] == energy, "subject"].dropna()))]
    columns = {"correlations": "metric", "comparisons": "metric", "win_tie_loss": "energy_metric",
               "sensitivity": "energy_metric", "sensitivity_tests": "energy_metric",
               "variability": "metric", "recommendations": "energy_metric", "pareto": "energy_metric"}
    return {name: label_windows(tables[name], windows, columns[name],
                                pooled if name == "sensitivity_tests" else None)
            for name in TABLE_NAMES}


#: Tables of the per-epoch analysis (greenhp.analysis.epochs), written to results/stats/<name>.tsv.
EPOCH_TABLE_NAMES = ("early_stop", "epoch_predictions")


def analyse_epochs(epochs: pd.DataFrame | str | Path, runs: pd.DataFrame | str | Path,
                   tolerance: float | None = None,
                   metric_directions: Mapping[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """The early-stop what-if and the epochs-mutant predictions from ``results/epochs.tsv``.
    ``tolerance``: ``analysis.early_stop_tolerance`` (a fraction of each metric curve's span;
    None: the default); ``metric_directions``: ``analysis.metric_directions``, as for analyse."""
    from .epochs import DEFAULT_TOLERANCE, early_stop, epoch_predictions, load_epochs, prepare_epochs

    tolerance = DEFAULT_TOLERANCE if tolerance is None else tolerance
    epochs = load_epochs(epochs) if isinstance(epochs, (str, Path)) else prepare_epochs(epochs)
    runs = (load_runs(runs, metric_directions) if isinstance(runs, (str, Path))
            else validate_runs(runs, metric_directions))
    return {"early_stop": early_stop(epochs, runs, tolerance, metric_directions),
            "epoch_predictions": epoch_predictions(epochs, runs)}


def write_tables(tables: Mapping[str, pd.DataFrame], paths: Mapping[str, str | Path]) -> list[Path]:
    """Write ``tables[name]`` to ``paths[name]`` (TSV, no index) for every name in ``paths``."""
    written = []
    for name, path in paths.items():
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tables[name].to_csv(path, sep="\t", index=False)
        written.append(path)
    return written


def read_tables(paths: Mapping[str, str | Path]) -> dict[str, pd.DataFrame]:
    """Read TSV tables written by write_tables back (empty cells as NaN)."""
    return {name: pd.read_csv(path, sep="\t") for name, path in paths.items()}
