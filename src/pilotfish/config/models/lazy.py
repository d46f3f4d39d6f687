"""Lazy re-exports for the model packages, so that importing one kind does not import them all.

`lazy_exports(package, homes)` returns the module-level `__getattr__` (PEP 562) of a package
whose names live in submodules: `homes` maps each submodule to the names it defines. A name is
imported on first use and cached in the package. Type checkers see the names through the
package's `if TYPE_CHECKING:` imports.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, homes: dict[str, tuple[str, ...]]) -> Callable[[str], Any]:
    where = {name: module for module, names in homes.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
