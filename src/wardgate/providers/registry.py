"""Provider types by their config ``type:``. The registry is the only list of types; adding one is one module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from wardgate.core.deployment import Adapter
    from wardgate.providers.http import UpstreamHTTP

AdapterFactory = Callable[[str, Any, "UpstreamHTTP"], "Adapter"]


@dataclass(frozen=True, slots=True)
class ProviderType:
    name: str
    config: type[BaseModel]
    factory: AdapterFactory
    description: str


_TYPES: dict[str, ProviderType] = {}


def register(name: str, config: type[BaseModel], description: str = "") -> Callable[[AdapterFactory], AdapterFactory]:
    def decorate(factory: AdapterFactory) -> AdapterFactory:
        if name in _TYPES:
            raise RuntimeError(f"provider type {name!r} registered twice")
        _TYPES[name] = ProviderType(name, config, factory, description)
        return factory

    return decorate


def add(name: str, config: type[BaseModel], factory: AdapterFactory, description: str = "") -> None:
    register(name, config, description)(factory)


def provider_types() -> dict[str, ProviderType]:
    _load_builtin()
    return dict(_TYPES)


def get(name: str) -> ProviderType | None:
    _load_builtin()
    return _TYPES.get(name)


def _load_builtin() -> None:
    # Importing the modules registers their types; this is the one place that lists modules, not types.
    from wardgate.providers import builtin  # noqa: F401
