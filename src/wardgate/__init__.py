"""Wardgate: an open-source AI gateway."""

from wardgate.sqla_core import install as _install_sqla_core

_install_sqla_core()  # SQLAlchemy's asyncio engine without its ORM: ~6 MB less per worker (wardgate/sqla_core.py)

__version__ = "0.1.0"
