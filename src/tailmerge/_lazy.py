"""Package attributes imported when first used, so a run imports only the modules it needs (a ``follow``
never imports ``verify`` or the state's SQLite, and ``--version`` hardly anything).

A package lists what it offers and where each name lives; ``exports`` gives it the module-level
``__getattr__`` and ``__dir__`` that import a name's module on first use and keep the value. Type
checkers see the same names through imports under ``TYPE_CHECKING``. The packages' tables (``__all__`` and
the ``exports`` call) are declared twins of one shape: data, each its package's own names.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

__all__ = ["exports"]


def exports(package: str, where: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose public ``name`` lives in module ``where[name]``
    (relative to the package: ``.name``)."""

    def __getattr__(name: str) -> object:
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        full = package + module
        __import__(full)  # not importlib.import_module: ``python -X importtime`` shows what this imports
        value = getattr(sys.modules[full], name)
        setattr(sys.modules[package], name, value)  # found directly from now on
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
