"""The HTML report opens in headless Chromium with every image loaded and the three answers
stated (bench/report_screenshot.py), on a re-analysis of a small synthetic runs table so that it
takes well under a minute. Skipped when no Chromium is installed."""
import importlib.util
import subprocess
import sys

import pytest

from testutil import ROOT, snakemake_cmd, subprocess_env

_spec = importlib.util.spec_from_file_location("report_screenshot", ROOT / "bench" / "report_screenshot.py")
shot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shot)
_spec = importlib.util.spec_from_file_location("analysis_synthetic", ROOT / "tests" / "analysis" / "conftest.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)

CHROMIUM = shot.find_chromium()


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_report_opens_in_headless_chromium(tmp_path):
    synthetic.make_runs(subjects=("pub",), modes=("single", "pair"), reps=3,
                        mutants={"epochs": [5.0, 15.0], "lr": [0.1]},
                        statuses={("pub__lr__x0.1", 2): "diverged"}).to_csv(
        tmp_path / "pub.tsv", sep="\t", index=False)
    (tmp_path / "re.yaml").write_text("runs_table: pub.tsv\nanalysis: {n_boot: 200}\n")
    base = snakemake_cmd() + ["-s", str(ROOT / "workflow" / "Reanalysis.smk"), "--directory",
                              str(tmp_path), "--configfile", str(tmp_path / "re.yaml")]
    for extra in (["--cores", "1"], ["--report", "reanalysis/report.html"]):
        r = subprocess.run(base + extra, cwd=tmp_path, env=subprocess_env(), capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    seen, fails = shot.check_report(tmp_path / "reanalysis" / "report.html", tmp_path / "shots",
                                    CHROMIUM, timeout=60)
    assert fails == [], "\n".join(seen + fails)
    assert sum(line.endswith("px)") and "loaded" in line for line in seen) == 5
    for name in ("front", "summary", "plot-tradeoff", "plot-power_timeline"):
        png = (tmp_path / "shots" / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000, name


def test_three_answers_parser():
    q = shot.QUESTIONS
    text = f"x {q[0]} Yes: a. {q[1]} No : b. {q[2]} Maybe."
    assert shot.three_answers(text) == ["Yes", "No", ""]
    assert shot.text_of("<style>p{}</style><p>a&amp;b</p>") == " a&b "
