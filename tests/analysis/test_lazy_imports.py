"""The import job only needs the tables: importing them must not load scipy (about a second per
job); the statistics still resolve through the package."""
import subprocess
import sys


def test_tables_import_without_scipy():
    code = ("import sys, greenhp.analysis.tables; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_statistics_resolve_through_the_package():
    import greenhp.analysis as A
    from greenhp.analysis import comparison, correlation

    assert A.correlations is correlation.correlations and A.win_tie_loss is comparison.win_tie_loss
    assert callable(A.recommend)  # the function, not the submodule of the same name
