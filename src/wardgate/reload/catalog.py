"""Models and providers from the database, merged into the config (docs/operations.md).

Precedence: the config (the file, or the version applied with ``wardgate config apply``) wins. The admin API refuses
to create a name the config defines; if the config gains one later, the database entry of that name is ignored
with a warning, and used again when the config drops it.

The merge is validated as a config file is (the provider's type, the model's providers, fall-backs, budgets'
fall-back models, every cross-section check): ``ConfigError`` names the key and the fix, and a worker keeps its
running config. Database values are never ``${VAR}``-interpolated: an admin cannot read the environment through them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from wardgate.config import ConfigError, Settings
from wardgate.config.checks import budget_fallbacks
from wardgate.config.errors import ConfigProblem
from wardgate.config.loader import _problems, _validate_providers
from wardgate.config.secrets import SecretBox, SecretsUnavailable
from wardgate.store.catalog import CatalogEntry, CatalogStore, digest

log = logging.getLogger("wardgate.reload")
SOURCE = "the admin API's models and providers"


def secret_fields(config: type[BaseModel]) -> frozenset[str]:
    """A provider type's fields stored encrypted: its SecretStr fields, and extra headers (they may carry auth)."""
    out = {"headers"} & set(config.model_fields)
    for name, field in config.model_fields.items():
        if _mentions_secret(field.annotation):
            out.add(name)
    return frozenset(out)


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(arg) for arg in getattr(annotation, "__args__", ()) or ())


def provider_type(raw: Any) -> type[BaseModel] | None:
    from wardgate.providers import registry

    type_name = raw.get("type") if isinstance(raw, dict) else None
    ptype = registry.provider_types().get(type_name) if isinstance(type_name, str) else None
    return ptype.config if ptype is not None else None


@dataclass(frozen=True, slots=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]
    digest: str

    def apply(self, base: Settings, box: SecretBox) -> Settings:
        return overlay(base, self.entries, box)

    def shadowed(self, base: Settings) -> list[str]:
        return [
            f"{e.kind} {e.name}"
            for e in self.entries
            if e.name in (base.providers if e.kind == "provider" else base.models)
        ]


class CatalogSource:
    """What a worker's reloader reads (reload/reloader.py)."""

    def __init__(self, store: CatalogStore, box: SecretBox) -> None:
        self.store = store
        self.box = box

    async def read(self) -> Catalog:
        entries = await self.store.entries()
        return Catalog(tuple(entries), digest(entries))


def overlay(base: Settings, entries: Iterable[CatalogEntry], box: SecretBox, source: str = SOURCE) -> Settings:
    problems: list[ConfigProblem] = []
    raw_providers: dict[str, Any] = {}
    raw_models: dict[str, Any] = {}
    for entry in entries:
        where = f"{entry.kind}s.{entry.name}"
        if entry.config is None:
            problems.append(ConfigProblem(where, "the stored entry is damaged.", "replace or delete it."))
            continue
        if entry.kind == "model":
            if entry.name not in base.models:
                raw_models[entry.name] = entry.config
            continue
        if entry.kind != "provider" or entry.name in base.providers:
            continue
        raw = dict(entry.config) if isinstance(entry.config, dict) else entry.config
        if entry.secrets is not None and isinstance(raw, dict):
            try:
                raw.update(box.open(entry.secrets))
            except SecretsUnavailable as exc:
                problems.append(
                    ConfigProblem(
                        where, f"its secrets {exc}.", "list the key they were stored with, or set them again."
                    )
                )
                continue
        raw_providers[entry.name] = raw
    providers = _validate_providers(raw_providers, problems)
    values: dict[str, Any] = {name: getattr(base, name) for name in type(base).model_fields}
    values["providers"] = {**providers, **base.providers}
    values["models"] = {**raw_models, **base.models}
    merged: Settings | None = None
    try:
        merged = Settings.model_validate(values)
    except ValidationError as exc:
        problems.extend(_problems(exc, Settings))
    from wardgate.routing.checks import check_models, list_form_paths

    problems = list_form_paths(problems, {"models": raw_models})  # a list-form model's keys as it was written
    if merged is not None:
        problems.extend(check_models(merged, {"models": raw_models}))
        budgets = [b.model_dump(mode="json") for b in merged.budgets]
        problems.extend(budget_fallbacks(budgets, merged.models))
    if problems or merged is None:
        raise ConfigError(source, problems)
    return merged
