"""Modules imported on first attribute access, so that optional heavy dependencies cost nothing until used."""

from __future__ import annotations

import importlib
import importlib.util
import types


class _LazyModule(types.ModuleType):
    """Stands in for module ``name`` and imports it on the first attribute read.

    Unlike ``importlib.util.LazyLoader`` it is not put in ``sys.modules``: code that walks every loaded module
    (``inspect.getmodule``, used by some libraries at import time) would otherwise trigger the import anyway.
    """

    def __init__(self, name: str, hint: str) -> None:
        super().__init__(name)
        self._hint = hint
        self._module: types.ModuleType | None = None

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__"):  # dunder probes (copy, pickle, inspect) must not import the module
            raise AttributeError(attribute)
        if self._module is None:
            try:
                self._module = importlib.import_module(self.__name__)
            except ImportError as error:
                raise ImportError(f"{self.__name__} is not installed: {self._hint}") from error
        return getattr(self._module, attribute)


def lazy_module(name: str, hint: str) -> types.ModuleType:
    """``name`` imported lazily: it loads when an attribute is first read.

    Args:
        name: the top-level module, e.g. ``"SimpleITK"``.
        hint: what needs it and how to install it, shown if it is missing when first used.
    """
    return _LazyModule(name, hint)
