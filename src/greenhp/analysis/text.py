"""Text shared by the summary page, the figures and the workflow: escaping for reStructuredText,
number formatting, and the one label of a setting, "subject (mode, partner)".

Bottom layer of greenhp.analysis (docs/architecture.md): imports nothing of the package.
"""
from __future__ import annotations

import numpy as np


def rst_escape(text) -> str:
    """User-supplied text made inert in reStructuredText: whitespace runs (newlines included)
    become one space, non-printable characters are dropped, and every character other than a
    letter, digit or space is backslash-escaped, so no directive (``.. raw::``), role, link or
    substitution can start inside it. Never put the result inside ````literal```` markup."""
    s = " ".join("".join(ch for ch in str(text) if ch.isprintable() or ch.isspace()).split())
    return "".join(ch if ch.isalnum() or ch == " " else "\\" + ch for ch in s)


def fmt_p(p) -> str:
    """A p- or q-value for prose: two significant digits, "< 1e-4" below that, "n/a" when missing."""
    try:
        p = float(p)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(p) else (f"{p:.2g}" if p >= 1e-4 else "< 1e-4")


def fmt_value(x) -> str:
    """A hyperparameter value for prose: compact numbers, text escaped."""
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return rst_escape(x)


def is_true(v) -> bool:
    """A table's boolean cell (True, or "true" in any case, as read back from a TSV)."""
    return v is True or str(v).strip().lower() == "true"


#: Forms of :func:`setting_label` for a setting with a partner. Each page keeps the words it has
#: always used: the summary's lines ``BESIDE``, the early-stop lines and the epoch-curves panels
#: ``WITH``, the other figures' panel titles ``PANEL`` (two lines).
BESIDE = "{subject} ({mode}, beside {partner})"
WITH = "{subject} ({mode}, with {partner})"
PANEL = "{subject} ({mode})\nbeside {partner}"


def setting_label(subject, mode, partner=None, form: str = BESIDE, escape=rst_escape,
                  pair_only: bool = True) -> str:
    """The label of one setting (a subject in one mode, beside one partner): "subject (mode)", or
    ``form`` filled in where there is a partner (a non-empty string; with ``pair_only``, and in
    pair mode only). ``escape`` is applied to each part (rst_escape for the summary page; None
    for figures, which matplotlib draws as plain text)."""
    esc = escape or str
    if isinstance(partner, str) and partner and (mode == "pair" or not pair_only):
        return form.format(subject=esc(subject), mode=esc(mode), partner=esc(partner))
    return f"{esc(subject)} ({esc(mode)})"
