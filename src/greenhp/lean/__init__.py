"""The lean design (docs/lean.md): the same verdicts from fewer training runs.

- :mod:`greenhp.lean.settings`: the study's ``lean:`` section, checked (one place reads it);
- :mod:`greenhp.lean.decide`: which comparisons are still open after the first wave;
- :mod:`greenhp.lean.replay`: ``greenhp replay``, the lean design replayed on a finished runs table;
- :mod:`greenhp.lean.derive`: epochs mutants read from the epoch marks of a longer run.
"""
