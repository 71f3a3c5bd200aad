"""Imports every provider module of this package so that each registers its types: adding a provider is adding one
module (or package), with no list to keep in sync."""

from __future__ import annotations

import importlib
import pkgutil

import wardgate.providers as _package

_INFRASTRUCTURE = frozenset({"builtin", "registry", "http", "streaming", "presets", "framing"})

for _info in pkgutil.iter_modules(_package.__path__):
    if _info.name not in _INFRASTRUCTURE and not _info.name.startswith("_"):
        importlib.import_module(f"{_package.__name__}.{_info.name}")
