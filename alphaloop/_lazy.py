"""Module-level ``__getattr__`` for packages whose heavy members load on first use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_attributes(package: str, lazy: Mapping[str, str]) -> Callable[[str], Any]:
    """A ``__getattr__`` resolving ``name`` from the module ``lazy[name]`` when first asked."""

    def __getattr__(name: str) -> Any:
        if name in lazy:
            return getattr(import_module(lazy[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
