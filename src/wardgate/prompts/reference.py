"""Where a request names a managed prompt: the body field ``wardgate_prompt`` (the openai SDK's ``extra_body``) or
the model ``prompt:NAME@LABEL``. Client text: every field is checked and bounded here, before anything reads it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wardgate.core.errors import InvalidRequest

FIELD = "wardgate_prompt"
MODEL_PREFIX = "prompt:"
DEFAULT_LABEL = "production"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
VERSION_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class PromptRef:
    name: str
    label: str | None  # exactly one of label and version is set
    version: str | int | None  # a version id (content hash) or its number
    variables: Mapping[str, Any]
    from_model: bool  # named by the model field: the client chose no model of its own


def is_referenced(body: Mapping[str, Any], model: str) -> bool:
    """The stage's whole cost for a request that names no prompt."""
    return FIELD in body or model.startswith(MODEL_PREFIX)


def reference_of(body: Mapping[str, Any], model: str) -> PromptRef:
    field = body.get(FIELD)
    if field is not None and not isinstance(field, dict):
        raise _bad(FIELD, "must be an object: {name, label | version, variables}")
    spec: Mapping[str, Any] = field or {}
    unknown = set(spec) - {"name", "label", "version", "variables"}
    if unknown:
        raise _bad(f"{FIELD}.{sorted(unknown)[0]}", "unknown field (expected name, label, version, variables)")
    variables = spec.get("variables")
    if variables is None:
        variables = {}
    elif not isinstance(variables, dict):
        raise _bad(f"{FIELD}.variables", "must be an object")
    if model.startswith(MODEL_PREFIX):
        if "name" in spec or "label" in spec or "version" in spec:
            raise _bad(FIELD, f"name the prompt once: in the model `{model[:100]}` or in {FIELD}, not both")
        named, _, label = model[len(MODEL_PREFIX) :].partition("@")
        _match(NAME, named, "model", "a prompt name")
        label = label or DEFAULT_LABEL
        _match(LABEL, label, "model", "a label")
        return PromptRef(named, label, None, variables, True)
    name: Any = spec.get("name")
    if not isinstance(name, str):
        raise _bad(f"{FIELD}.name", "is required: the prompt's name")
    _match(NAME, name, f"{FIELD}.name", "a prompt name")
    label_given: Any = spec.get("label")
    version = spec.get("version")
    if label_given is not None and version is not None:
        raise _bad(f"{FIELD}.version", "give a label or a version, not both")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int | str):
            raise _bad(f"{FIELD}.version", "must be a version id or a version number")
        if isinstance(version, int) and not 0 < version < 2**31:
            raise _bad(f"{FIELD}.version", "must be a positive version number")
        if isinstance(version, str):
            _match(VERSION_ID, version, f"{FIELD}.version", "a version id (64 hex characters)")
        return PromptRef(name, None, version, variables, False)
    if label_given is None:
        label_given = DEFAULT_LABEL
    if not isinstance(label_given, str):
        raise _bad(f"{FIELD}.label", "must be a string")
    _match(LABEL, label_given, f"{FIELD}.label", "a label")
    return PromptRef(name, label_given, None, variables, False)


def _match(pattern: re.Pattern[str], value: str, param: str, what: str) -> None:
    if pattern.fullmatch(value) is None:
        raise _bad(param, f"is not {what} (letters, digits, `_`, `.`, `-`)")


def _bad(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"'{param}' {message}.", param=param, code="invalid_prompt_reference")
