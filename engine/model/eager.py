"""``eager_only``: ``torch.compiler.disable`` applied on first call instead of at import.

Decorating with ``torch.compiler.disable`` at import loads ``torch._dynamo`` (and sympy): about 1 s and 200 MB
for every program that merely imports the model, the GUI and the CLI included, although only compiled runs
need it. The wrapper asks for the disabled function the first time it runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])


def eager_only(function: F) -> F:
    """``function`` kept out of ``torch.compile`` graphs (run eagerly), with dynamo imported lazily."""
    disabled: Callable[..., Any] | None = None

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal disabled
        if disabled is None:
            disabled = torch.compiler.disable(function)
        return disabled(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
