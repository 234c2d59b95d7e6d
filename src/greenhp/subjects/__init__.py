"""The subjects greenhp can train, by name. See ``base.Subject`` for what a subject provides."""

from __future__ import annotations

from greenhp.subjects.base import HYPERPARAMETERS, Subject
from greenhp.subjects.digits import DIGITS_CNN, DIGITS_MLP

REGISTRY: dict[str, Subject] = {s.name: s for s in (DIGITS_CNN, DIGITS_MLP)}


def get_subject(name: str) -> Subject:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown subject {name!r}; known subjects: {', '.join(sorted(REGISTRY))}") from None


__all__ = ["HYPERPARAMETERS", "REGISTRY", "Subject", "get_subject"]
