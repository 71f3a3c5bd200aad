"""SQLAlchemy's asyncio engine without its ORM (docs/decisions/031-asyncio-engine-without-the-orm.md).

``sqlalchemy.ext.asyncio``'s ``__init__`` imports ``AsyncSession``, and with it the whole ORM: about 6 MB of every
worker's memory for classes Wardgate never uses (it speaks SQLAlchemy Core). ``install()`` puts a finder in front of
the import system for that one package: its module is the real package (same ``__path__``, same submodules) minus the
``__init__``'s eager imports; each public name is imported from its submodule on first use. Code that does use the
asyncio session still gets it (``from sqlalchemy.ext.asyncio import AsyncSession`` imports ``.session`` then), and
only pays for the ORM then.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

PACKAGE = "sqlalchemy.ext.asyncio"

# the names the package's __init__ exports (SQLAlchemy 2.1), each with the submodule that defines it
EXPORTS = {
    **dict.fromkeys(
        (
            "async_engine_from_config",
            "AsyncConnection",
            "AsyncEngine",
            "AsyncTransaction",
            "create_async_engine",
            "create_async_pool_from_url",
        ),
        "engine",
    ),
    **dict.fromkeys(("AsyncMappingResult", "AsyncResult", "AsyncScalarResult", "AsyncTupleResult"), "result"),
    "async_scoped_session": "scoping",
    **dict.fromkeys(
        (
            "async_object_session",
            "async_session",
            "async_sessionmaker",
            "AsyncAttrs",
            "AsyncSession",
            "AsyncSessionTransaction",
            "close_all_sessions",
        ),
        "session",
    ),
}


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None  # the default module, with the package's __path__ from the spec

    def exec_module(self, module: ModuleType) -> None:
        from sqlalchemy.util import concurrency

        concurrency._concurrency_shim._initialize()  # what the real __init__ does last

        def __getattr__(name: str) -> Any:
            where = EXPORTS.get(name)
            if where is None:
                raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")
            value = getattr(importlib.import_module(f"{PACKAGE}.{where}"), name)
            setattr(module, name, value)
            return value

        module.__getattr__ = __getattr__  # type: ignore[method-assign]
        module.__all__ = list(EXPORTS)  # type: ignore[attr-defined]


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != PACKAGE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.submodule_search_locations is None:
            return None  # not the package we know: leave it to the import system
        spec.loader = _Loader()
        return spec


def install() -> None:
    """Idempotent; a no-op once the real package was imported."""
    if PACKAGE not in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
