"""The subjects greenhp can train, by name. See ``base.Subject`` for what a subject provides.

``resolve(name, sconf)`` is what a study uses: a registered subject, or a user-defined one imported
from ``sconf["module"]`` (see :mod:`greenhp.subjects.external` and docs/subjects.md).
"""

from __future__ import annotations

from greenhp.subjects.base import HYPERPARAMETERS, Subject
from greenhp.subjects.digits import DIGITS_CNN, DIGITS_MLP
from greenhp.subjects.forward_forward import MNIST_FF
from greenhp.subjects.hrnet18 import HRNET18_REID
from greenhp.subjects.mnist_cnn import MNIST_CNN
from greenhp.subjects.resnet20 import RESNET20
from greenhp.subjects.siamese import SIAMESE

REGISTRY: dict[str, Subject] = {
    s.name: s for s in (DIGITS_CNN, DIGITS_MLP, MNIST_CNN, MNIST_FF, SIAMESE, RESNET20, HRNET18_REID)
}


def get_subject(name: str) -> Subject:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown subject {name!r}; known subjects: {', '.join(sorted(REGISTRY))}") from None


__all__ = ["HYPERPARAMETERS", "REGISTRY", "Subject", "get_subject"]
