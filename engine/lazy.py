"""Modules imported on first attribute access, so that optional heavy dependencies cost nothing until used."""

from __future__ import annotations

import importlib.util
import sys
import types


class _MissingModule(types.ModuleType):
    """Stands in for a module that is not installed; any use raises ImportError with ``hint``."""

    def __init__(self, name: str, hint: str) -> None:
        super().__init__(name)
        self._hint = hint

    def __getattr__(self, attribute: str) -> object:
        raise ImportError(f"{self.__name__} is not installed: {self._hint}")


def lazy_module(name: str, hint: str) -> types.ModuleType:
    """``name`` imported lazily (``importlib.util.LazyLoader``): it loads when an attribute is first read.

    Args:
        name: the top-level module, e.g. ``"SimpleITK"``.
        hint: what needs it and how to install it, shown if it is missing when first used.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return _MissingModule(name, hint)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
