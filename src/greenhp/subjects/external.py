"""User-defined subjects: import a :class:`~greenhp.subjects.base.Subject` from outside the package.

A study names one with ``subjects.<name>.module`` in its config, in one of two forms:

- ``"some.module:ATTR"``: an importable module (on ``sys.path`` / ``PYTHONPATH``) and an attribute;
- ``"path/to/file.py:ATTR"``: a Python file (relative paths are taken from the working directory).

``ATTR`` is a ``Subject`` or a function of no arguments that returns one. Every failure says which
module and attribute it was looking for.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from greenhp.subjects.base import Subject


class SubjectImportError(ImportError):
    """A user-defined subject could not be imported, or is not a Subject."""


def split_spec(spec: str) -> tuple[str, str]:
    if not isinstance(spec, str) or spec.count(":") < 1:
        raise SubjectImportError(f"subject module {spec!r}: expected 'some.module:ATTR' or 'path/to/file.py:ATTR'")
    target, _, attr = spec.rpartition(":")
    if not target or not attr.isidentifier():
        raise SubjectImportError(f"subject module {spec!r}: expected 'some.module:ATTR' or 'path/to/file.py:ATTR'")
    return target, attr


def _import_file(path: Path, spec: str):
    if not path.is_file():
        raise SubjectImportError(f"subject module {spec!r}: file {path} does not exist (relative paths start at {Path.cwd()})")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"greenhp_user_subject_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise SubjectImportError(f"subject module {spec!r}: cannot load {path} as Python")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        loader_spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise SubjectImportError(f"subject module {spec!r}: importing {path} failed: {type(err).__name__}: {err}") from err
    return module


def _takes_no_arguments(fn) -> bool:
    import inspect

    try:
        inspect.signature(fn).bind()
    except (TypeError, ValueError):
        return False
    return True


def load_subject(spec: str) -> Subject:
    """Import ``spec`` (``module:ATTR`` or ``file.py:ATTR``) and return the Subject it names."""
    target, attr = split_spec(spec)
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _import_file(Path(target), spec)
    else:
        try:
            module = importlib.import_module(target)
        except Exception as err:
            raise SubjectImportError(
                f"subject module {spec!r}: cannot import module {target!r} ({type(err).__name__}: {err}); "
                "is it on PYTHONPATH?"
            ) from err
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise SubjectImportError(f"subject module {spec!r}: {target} has no attribute {attr!r}") from None
    if callable(obj) and not isinstance(obj, (Subject, type)) and _takes_no_arguments(obj):
        try:
            obj = obj()  # a factory returning the Subject
        except Exception as err:
            raise SubjectImportError(f"subject module {spec!r}: calling {attr}() failed: {type(err).__name__}: {err}") from err
    if not isinstance(obj, Subject):
        raise SubjectImportError(
            f"subject module {spec!r}: {target}:{attr} is a {type(obj).__name__}, not a greenhp.subjects.base.Subject"
        )
    return obj
