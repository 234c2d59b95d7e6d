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


def resolve(name: str, sconf: dict | None = None) -> Subject:
    """The subject a study calls ``name``: imported from ``sconf["module"]`` when given, else registered.

    ``sconf`` is the study config's ``subjects.<name>`` mapping (or None). A user-defined subject keeps
    its own ``Subject.name`` for logs; the study refers to it by ``name``.
    """
    module = (sconf or {}).get("module")
    if module:
        from greenhp.subjects.external import load_subject

        return load_subject(module)
    return get_subject(name)


__all__ = ["HYPERPARAMETERS", "REGISTRY", "Subject", "get_subject", "resolve"]
