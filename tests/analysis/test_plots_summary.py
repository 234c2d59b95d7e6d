import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenhp.analysis import TABLE_NAMES, analyse, read_tables, write_tables
from greenhp.analysis import drawing, plots
from greenhp.analysis.summary import write_summary
from greenhp.analysis.tables import validate_runs

ROOT = Path(__file__).resolve().parents[2]


def _check(paths, n=2):
    assert len(paths) == n
    for p in paths:
        assert p.is_file() and p.stat().st_size > 500, p
    assert {p.suffix for p in paths} == {".png", ".svg"}


def _degenerate(factory):
    runs = factory(subjects=("only",), mutants={"lr": [0.1]}, reps=2)
    runs["gpu_energy_j"] = np.nan
    return validate_runs(runs)


@pytest.fixture(scope="module")
def normal():
    # by path: a bare "from conftest import" may find another package's conftest (tests/energy)
    import importlib.util
    spec = importlib.util.spec_from_file_location("analysis_conftest", Path(__file__).with_name("conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    make_runs = mod.make_runs
    runs = validate_runs(make_runs(subjects=("a", "b"), modes=("single", "pair"), estimated=True,
                                   mutants={"epochs": [5.0, 15.0], "lr": [0.1]}, reps=3))
    return runs, analyse(runs, n_boot=50)


def _write_timeline(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"t_s": np.arange(0, 10, 0.1), "power_w": 300 + 10 * np.sin(np.arange(100))}).to_csv(
        path, sep="\t", index=False)


def test_make_all_normal_marks_estimates(tmp_path, normal):
    runs, tables = normal
    _write_timeline(tmp_path / "runs" / "single" / "a__original" / "rep0.timeline.tsv")
    out = plots.make_all(runs, tables, tmp_path, runs_dir=tmp_path / "runs")
    assert set(out) == set(plots.PLOT_NAMES)
    for name, paths in out.items():
        _check(paths)
        assert paths[0].name == f"{name}.png"
        svg = paths[1].read_text()
        assert "no data" not in svg, name
        if name != "power_timeline":  # GPU power from NVML: never an estimate
            assert "estimated: estimate_cpu_time" in svg, name
    assert "single-a__original-0" in (tmp_path / "power_timeline.svg").read_text()


def test_plots_degenerate_and_empty(tmp_path, runs_factory):
    runs = _degenerate(runs_factory)
    tables = analyse(runs, n_boot=20)
    for name, paths in plots.make_all(runs, tables, tmp_path / "deg").items():
        _check(paths)
        assert "estimated" not in paths[1].read_text()
    assert "no data" in (tmp_path / "deg" / "sensitivity.svg").read_text()
    empty = {n: t.iloc[0:0] for n, t in tables.items()}
    for name, paths in plots.make_all(runs.iloc[0:0], empty, tmp_path / "empty").items():
        _check(paths)
        assert "no data" in paths[1].read_text()


def test_power_timeline(tmp_path):
    assert plots.power_timeline(tmp_path / "absent.tsv", tmp_path / "t") == []
    f = tmp_path / "timeline.tsv"
    pd.DataFrame({"t_s": np.arange(0, 10, 0.1), "power_w": 300 + 10 * np.sin(np.arange(100))}).to_csv(
        f, sep="\t", index=False)
    _check(plots.power_timeline(f, tmp_path / "t.png"))


def test_analyse_tables_and_empty_headers(tmp_path, runs_factory):
    runs = runs_factory(mutants={"epochs": [15.0]})
    tables = analyse(runs, n_boot=20)
    assert tuple(tables) == TABLE_NAMES
    assert tables["recommendations"].empty and tables["sensitivity"].empty
    paths = {n: tmp_path / f"{n}.tsv" for n in TABLE_NAMES}
    write_tables(tables, paths)
    header = paths["recommendations"].read_text().splitlines()
    assert len(header) == 1 and "cost_saving" in header[0]
    back = read_tables(paths)
    assert len(back["comparisons"]) == len(tables["comparisons"])


def test_summary_answers_questions(tmp_path, normal):
    runs, tables = normal
    text = write_summary(runs, tables, tmp_path / "s.rst").read_text().replace("\\", "")  # unescape
    assert "1. Which hyperparameters" in text and "**epochs**: very strong positive" in text
    assert "epochs 10 -> 5 saves" in text
    assert "significantly larger in pair mode" in text
    assert "estimate_cpu_time" in text and "ESTIMATE" in text


class _NL(dict):
    """Minimal stand-in for snakemake's Namedlist: attribute and key access, [0]."""
    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError as exc:
            raise AttributeError(k) from exc

    def __getitem__(self, k):
        return list(self.values())[k] if isinstance(k, int) else dict.__getitem__(self, k)


def test_thin_scripts_run(tmp_path, runs_factory):
    runs_path = tmp_path / "runs.tsv"
    runs_factory(modes=("single", "pair"), mutants={"epochs": [5.0]}, reps=3).to_csv(
        runs_path, sep="\t", index=False)
    params = _NL(alpha=0.05, delta_threshold=0.147, n_boot=30, seed=0, carbon_g_per_kwh=400.0,
                 price_per_kwh=0.3)
    stats_out = _NL({n: str(tmp_path / "stats" / f"{n}.tsv") for n in TABLE_NAMES},
                    runs_checked=str(tmp_path / "stats" / "runs_checked.pkl"))
    # threads=2: the scripts' parts run in two processes (greenhp.parallel), as under Snakemake
    sm = type("SM", (), dict(input=_NL(runs=str(runs_path)), output=stats_out, params=params,
                             log=_NL(l=str(tmp_path / "stats.log")), threads=2))
    runpy.run_path(str(ROOT / "scripts" / "stats.py"), init_globals={"snakemake": sm})
    assert all(Path(p).is_file() for p in stats_out.values())
    plot_out = _NL({n: str(tmp_path / "plots" / f"{n}.png") for n in plots.PLOT_NAMES},
                   summary=str(tmp_path / "plots" / "summary.rst"))
    sm.input, sm.output, sm.log = _NL(runs=str(runs_path), **stats_out), plot_out, _NL(l=str(tmp_path / "p.log"))
    runpy.run_path(str(ROOT / "scripts" / "plots.py"), init_globals={"snakemake": sm})
    for n in plots.PLOT_NAMES:
        assert (tmp_path / "plots" / f"{n}.svg").stat().st_size > 500
    assert "summary" in (tmp_path / "plots" / "summary.rst").read_text()
    rec = pd.read_csv(stats_out["recommendations"], sep="\t")
    assert list(rec.mutant_id) == ["digits_cnn__epochs__x5"] * 2


def _busy_figure(n_points=300, legend_loc=None):
    """Panels like hp_vs_energy's: constrained layout, log axis with labelled minor ticks, a
    legend placed "best" among many dots, a colour bar, a suptitle."""
    import matplotlib

    rng = np.random.default_rng(1)
    fig, axes = drawing.panel_grid(4, 4.6, 3.8)
    for k, ax in enumerate(axes.flat[:4]):
        xs = np.array([0.1, 0.2, 0.5, 1.0])
        line = ax.errorbar(xs, [3e4, 2e4, 2.5e4, 1e4], yerr=2e3, marker="o", capsize=3, label="single")
        ax.scatter(rng.choice(xs, n_points), rng.uniform(5e3, 4e4, n_points), s=10, alpha=0.6,
                   color=line[0].get_color(), zorder=3)
        drawing.log_axis(ax, "lr", xs)
        ax.legend(fontsize=6, **({"loc": legend_loc} if legend_loc else {}))
        ax.yaxis.set_major_formatter(matplotlib.ticker.EngFormatter(unit="J"))
        ax.set_title(f"panel {k}\nsecond line", fontsize=9)
    im = axes.flat[4].imshow(rng.uniform(-1, 1, (3, 4)), cmap="RdBu_r")
    fig.colorbar(im, ax=axes, shrink=0.8, label="rho")
    fig.suptitle("a busy figure", fontsize=10)
    return fig


@pytest.mark.parametrize("legend_loc", [None, "lower left"])
def test_save_lays_out_once_and_draws_what_savefig_tight_draws(tmp_path, legend_loc):
    """_save lays the figure out once and pins "best" legends: the PNG is byte for byte the one
    savefig(bbox_inches="tight") writes (which lays out and places legends on every pass)."""
    import matplotlib.pyplot as plt

    fig = _busy_figure(legend_loc=legend_loc)
    fig.savefig(tmp_path / "ref.png", dpi=drawing.PNG_DPI, bbox_inches="tight")
    plt.close(fig)
    png, svg = drawing.save(_busy_figure(legend_loc=legend_loc), tmp_path / "fast")
    assert png.read_bytes() == (tmp_path / "ref.png").read_bytes()
    assert svg.read_text().count("<text") > 20  # text stays text


def test_dense_dots_are_an_image_in_the_svg_and_the_rest_stays_vector(tmp_path, normal, monkeypatch):
    runs, tables = normal
    sparse = plots.hp_vs_energy(runs, tmp_path / "sparse")[1].read_text()
    assert "<image" not in sparse  # a few dots: every dot a vector marker
    monkeypatch.setattr(plots, "RASTER_POINTS", 10)
    dense_png, dense_svg = plots.hp_vs_energy(runs, tmp_path / "dense")
    svg = dense_svg.read_text()
    assert svg.count("<image") >= 1  # the dots, one image per panel
    assert svg.count("<use") < sparse.count("<use")  # no vector marker per dot
    # the text, the lines and the PNG are what they were
    import re
    texts = lambda s: sorted(re.findall(r"<text[^>]*>([^<]*)<", s))  # noqa: E731
    assert texts(svg) == texts(sparse) and len(texts(svg)) > 10
    assert dense_png.read_bytes() == (tmp_path / "sparse.png").read_bytes()


def test_mean_ci_half_width_is_the_t_interval():
    """plots uses scipy.special.stdtrit (scipy.stats.t.ppf's own implementation) to avoid
    importing scipy.stats: the same numbers."""
    import math

    from scipy import stats as sps

    rng = np.random.default_rng(3)
    for n in (2, 3, 5, 30, 1000):
        v = rng.normal(100.0, 5.0, n)
        m, half = drawing.mean_ci(v)
        assert m == v.mean()
        assert half == sps.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n)
    assert np.isnan(drawing.mean_ci(np.array([1.0]))[1])


def test_plots_and_import_jobs_do_not_import_scipy_stats():
    import subprocess
    import sys

    code = ("import sys; import greenhp.analysis.plots, greenhp.analysis.summary, "
            "greenhp.analysis.tables; from greenhp.analysis import TABLE_NAMES, load_runs; "
            "print('scipy.stats' in sys.modules)")
    import os
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env)
    assert out.stdout.strip() == "False"
    from greenhp import analysis
    assert analysis.correlations is analysis.correlation.correlations  # still there, on first use
