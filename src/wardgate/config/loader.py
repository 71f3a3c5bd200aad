"""Read, interpolate and validate a config file. Runs at start-up and on reload, never per request."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from wardgate.config.checks import budget_fallbacks, quoted_scalars
from wardgate.config.errors import ConfigError, ConfigProblem, dotted
from wardgate.config.interpolate import environment, interpolate
from wardgate.config.schema import Settings

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")
_UNQUOTED_VAR = re.compile(r"(?<=[\s:\[{,])(\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}\s,'\"\]]*)?\})(?=\s*[,}\]\n]|\s*$)")


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Settings:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [ConfigProblem("", f"cannot read the file ({exc.strerror}).")]) from exc
    return load_config_text(text, source=source, env=env)


def load_config_text(text: str, *, source: str = "<config>", env: Mapping[str, str] | None = None) -> Settings:
    raw = _parse_yaml(text, source)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, [ConfigProblem("", "the top level must be a mapping (key: value).")])
    problems: list[ConfigProblem] = []
    data = interpolate(raw, environment() if env is None else env, problems)
    if data.get("master_key") is None:
        problems.append(
            ConfigProblem("master_key", "is required.", 'add master_key: "${WARDGATE_MASTER_KEY}" and export it.')
        )
    unset = {p.path for p in problems}
    settings, found, dropped = _validate_settings(data)
    raw_providers = data.get("providers")
    providers = _validate_providers(raw_providers if isinstance(raw_providers, dict) else {}, found)
    if settings is not None:
        if not dropped & {"models", "providers"}:
            _check_models(settings, data, found)
        models = data.get("models") if "models" in dropped else settings.models
        found.extend(budget_fallbacks(data.get("budgets"), models if isinstance(models, dict) else {}))
        checked = {k: v for k, v in raw.items() if k not in dropped}  # a section with schema errors said enough
        found.extend(quoted_scalars(checked, settings.model_copy(update={"providers": providers})))
    problems.extend(p for p in found if p.path not in unset)  # an unset ${VAR} is reported once, as unset
    if problems or settings is None:
        raise ConfigError(source, problems)
    return settings.model_copy(update={"providers": providers})


def _validate_settings(data: dict[str, Any]) -> tuple[Settings | None, list[ConfigProblem], set[str]]:
    """Every schema problem, then the settings without the sections that had them (so the cross-checks of the
    others still run in the same pass), and the names of those sections."""
    from wardgate.routing.checks import list_form_paths

    try:
        return Settings.model_validate(data), [], set()
    except ValidationError as exc:
        problems = list_form_paths(_problems(exc, Settings), data)
        dropped = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    try:
        partial = Settings.model_validate({k: v for k, v in data.items() if k not in dropped})
    except ValidationError:
        partial = None  # a whole-settings check failed: the schema problems are all there is to say
    return partial, problems, dropped


def _parse_yaml(text: str, source: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as first:
        # `{api_key: ${KEY}}` is not valid YAML (a `{` inside a flow mapping); quoting just the placeholder keeps
        # the value out of the text (it is interpolated after parsing), so the shape in the docs works as written.
        fixed = _UNQUOTED_VAR.sub(r'"\1"', text)
        if fixed != text:
            try:
                return yaml.load(fixed, Loader=loader)  # noqa: S506
            except yaml.YAMLError:
                pass
        mark = getattr(first, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(first, "problem", None) or str(first)
        raise ConfigError(
            source,
            [ConfigProblem("", f"{where}not valid YAML ({problem}).", "check indentation and quote values with ':'.")],
        ) from None


def _validate_providers(raw: dict[str, Any], problems: list[ConfigProblem]) -> dict[str, BaseModel]:
    from wardgate.providers import registry

    types = registry.provider_types()
    known = ", ".join(sorted(types))
    out: dict[str, BaseModel] = {}
    for name, value in raw.items():
        loc = f"providers.{name}"
        if not isinstance(value, dict):
            problems.append(ConfigProblem(loc, "must be a mapping with at least `type:`."))
            continue
        type_name = value.get("type")
        ptype = types.get(type_name) if isinstance(type_name, str) else None
        if ptype is None:
            problems.append(
                ConfigProblem(f"{loc}.type", f"{type_name!r} is not a provider type.", f"use one of: {known}.")
            )
            continue
        try:
            out[name] = ptype.config.model_validate(value)
        except ValidationError as exc:
            problems.extend(_problems(exc, ptype.config, prefix=("providers", name)))
    return out


def _check_models(settings: Settings, data: dict[str, Any], problems: list[ConfigProblem]) -> None:
    from wardgate.routing.checks import check_models  # providers, fall-backs, classes, canary (routing/)

    problems.extend(check_models(settings, data))


def _problems(exc: ValidationError, model: type[BaseModel], prefix: tuple[Any, ...] = ()) -> list[ConfigProblem]:
    out = []
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        kind = err["type"]
        fix = None
        if kind == "extra_forbidden":
            keys = _known_keys(model, err["loc"][:-1])
            message = "unknown key."
            fix = f"remove it or use one of: {', '.join(keys)}." if keys else "remove it."
        elif kind == "missing":
            message, fix = "is required.", "add it."
        elif kind == "literal_error":
            message = f"{err['input']!r} is not allowed ({err['msg'].removeprefix('Input should be ')})."
        else:
            message = err["msg"].removeprefix("Value error, ")
            if not message.endswith("."):
                message += "."
        out.append(ConfigProblem(dotted(loc), message, fix))
    return out


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model found at ``loc`` (skipping dict keys and list indexes)."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            continue  # a dict key or list index below a container field
        current = _innermost_model(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _innermost_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _innermost_model(arg)
        if found is not None:
            return found
    metadata = getattr(annotation, "__origin__", None)
    return _innermost_model(metadata) if metadata is not None and metadata is not annotation else None
