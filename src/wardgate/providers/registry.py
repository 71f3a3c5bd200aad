"""Provider types by their config ``type:``. The registry is the only list of types; adding one is one module."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    wire: str = ""  # the wire format spoken upstream ("openai" for every OpenAI-compatible preset)
    operations: tuple[str, ...] = ()  # what its adapter serves: chat, completions, embeddings, moderations, rerank


_TYPES: dict[str, ProviderType] = {}


def register(
    name: str,
    config: type[BaseModel],
    description: str = "",
    *,
    wire: str | None = None,
    operations: tuple[str, ...] = (),
) -> Callable[[AdapterFactory], AdapterFactory]:
    def decorate(factory: AdapterFactory) -> AdapterFactory:
        if name in _TYPES:
            raise RuntimeError(f"provider type {name!r} registered twice")
        _TYPES[name] = ProviderType(name, config, factory, description, wire or name, operations)
        return factory

    return decorate


def add(
    name: str,
    config: type[BaseModel],
    factory: AdapterFactory,
    description: str = "",
    *,
    wire: str | None = None,
    operations: tuple[str, ...] = (),
) -> None:
    register(name, config, description, wire=wire, operations=operations)(factory)


def provider_types() -> dict[str, ProviderType]:
    _load_builtin()
    return dict(_TYPES)


def get(name: str) -> ProviderType | None:
    _load_builtin()
    return _TYPES.get(name)


class MissingExtra(RuntimeError):
    """A configured provider's optional dependencies are not installed."""

    def __init__(self, provider: str, type_name: str, package: str, extra: str) -> None:
        super().__init__(
            f"provider {provider!r} has type {type_name}, which needs {package}: install wardgate[{extra}]"
            f" (pip install 'wardgate[{extra}]')"
        )


def require_extra(type_name: str, module: str, package: str, extra: str) -> None:
    """For a provider config's validator: refuse, when the config is loaded, a type whose optional dependency is
    missing. Finds the module without importing it, so checking a config costs nothing."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ModuleNotFoundError, ValueError):  # a missing parent package; a module without a spec
        found = False
    if not found:
        raise ValueError(f"type {type_name} needs {package}, which is not installed: install wardgate[{extra}]")


@contextmanager
def imports_of_extra(provider: str, type_name: str, package: str, extra: str, roots: tuple[str, ...]) -> Iterator[None]:
    """Around an adapter factory's lazy imports: a missing dependency (a top-level package in ``roots``) becomes
    MissingExtra, which names the provider and the extra to install; any other ImportError is a bug and stays one."""
    try:
        yield
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] in roots:
            raise MissingExtra(provider, type_name, package, extra) from exc
        raise


def _load_builtin() -> None:
    # Importing the modules registers their types; this is the one place that lists modules, not types.
    from wardgate.providers import builtin  # noqa: F401
