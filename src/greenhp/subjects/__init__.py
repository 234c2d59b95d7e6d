"""The subjects greenhp can train, by name. See ``base.Subject`` for what a subject provides.

``resolve(name, sconf)`` is what a study uses: a registered subject, or a user-defined one imported
from ``sconf["module"]`` (see :mod:`greenhp.subjects.external` and docs/subjects.md).
"""

from __future__ import annotations

from greenhp.subjects.base import HYPERPARAMETERS, Subject
from greenhp.subjects.digits import DIGITS_CNN, DIGITS_MLP
from greenhp.subjects.mnist_cnn import MNIST_CNN

REGISTRY: dict[str, Subject] = {s.name: s for s in (DIGITS_CNN, DIGITS_MLP, MNIST_CNN)}


def get_subject(name: str) -> Subject:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown subject {name!r}; known subjects: {', '.join(sorted(REGISTRY))}") from None


__all__ = ["HYPERPARAMETERS", "REGISTRY", "Subject", "get_subject"]
