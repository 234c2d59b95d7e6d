"""The log of a Snakemake script: its messages and, when it fails, the traceback go to the rule's
log file (``log:`` in workflow/rules/*.smk), not only to Snakemake's console.

    from greenhp.scriptlog import log_to
    log_to(snakemake.log[0], "epochs_stats")

An exception that ends the script is written to the log with its traceback, and one line naming
the rule, the error and the log goes to stderr; the script exits with status 1 as before, so
Snakemake marks the job failed.
"""
from __future__ import annotations

import logging
import sys


def log_to(path, rule: str) -> logging.Logger:
    """Log to ``path`` (INFO, warnings included) and send an uncaught exception there too."""
    logging.basicConfig(filename=str(path), level=logging.INFO, force=True)
    logging.captureWarnings(True)
    log = logging.getLogger(f"greenhp.{rule}")

    def hook(kind, exc, tb):
        if issubclass(kind, KeyboardInterrupt):
            return sys.__excepthook__(kind, exc, tb)
        log.error("rule %s failed", rule, exc_info=(kind, exc, tb))
        for handler in logging.getLogger().handlers:
            handler.flush()
        first = " ".join(str(exc).split())[:2000]
        print(f"greenhp: rule {rule} failed: {kind.__name__}: {first} (traceback in {path})",
              file=sys.stderr)

    sys.excepthook = hook
    return log
