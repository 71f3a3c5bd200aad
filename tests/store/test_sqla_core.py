"""The finder that keeps SQLAlchemy's ORM out of a worker (wardgate/sqla_core.py) exports exactly what the real
``sqlalchemy.ext.asyncio`` package does, each name from the submodule that defines it, and the session (and so the
ORM) still loads for whoever asks for it. Run in a fresh interpreter: the test process imported the ORM long ago."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

from wardgate.sqla_core import EXPORTS, PACKAGE


def test_the_finder_exports_what_the_real_package_init_does() -> None:
    spec = importlib.util.find_spec("sqlalchemy")
    assert spec is not None and spec.origin is not None
    init = Path(spec.origin).parent / "ext" / "asyncio" / "__init__.py"
    real: dict[str, str] = {}
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                real[alias.asname or alias.name] = node.module
    assert real == EXPORTS


PROBE = """
import sys
import wardgate  # installs the finder
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
assert not any(m.startswith("sqlalchemy.orm") for m in sys.modules), "the engine pulled the ORM in"
import sqlalchemy.ext.asyncio as package
for name in package.__all__:
    assert getattr(package, name) is not None
from sqlalchemy.ext.asyncio import AsyncSession
assert AsyncSession.__module__ == "sqlalchemy.ext.asyncio.session"
assert "sqlalchemy.orm" in sys.modules
try:
    package.not_a_name
except AttributeError:
    print("ok")
"""


def test_names_load_from_their_submodules_and_the_session_still_works() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert PACKAGE == "sqlalchemy.ext.asyncio"
