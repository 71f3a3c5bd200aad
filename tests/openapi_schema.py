"""Validate JSON bodies against the component schemas of OpenAI's official OpenAPI document.

The document (OpenAPI 3.1, ~3 MB of YAML) is vendored in `tests/specs/` with its source and licence.
Parsing it takes seconds, so the parsed and normalised document is cached as JSON under
`.pytest_cache/`, keyed by the file's size and mtime; later runs load it in milliseconds.

One adjustment is made to the document, and only one: a few schemas still carry the OpenAPI 3.0 keyword
`nullable: true`, which JSON Schema 2020-12 ignores. Left alone, the streamed chunk schema would reject
what the API really sends on every chunk (`"finish_reason": null`, `"logprobs": null`, `"usage": null`),
and the document's own chunk examples with it.
Such a schema `S` is rewritten to `{"anyOf": [S, {"type": "null"}]}`, which is what the keyword says and
what OpenAI's own SDK types do (`Optional[...]`). Nothing else is loosened.

Known gaps of the document itself, which callers handle rather than this module:
- `Embedding.embedding` is declared as an array of numbers only; with `encoding_format: "base64"` the API
  returns a base64 string. Decode it before validating.
- `CreateCompletionResponse` says streamed and non-streamed legacy completions share one shape, but the
  API streams `"finish_reason": null` on every chunk but the last, which the shape does not allow.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO_ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = REPO_ROOT / "tests" / "specs" / "openai-openapi.yaml"

_SPEC_URI = "urn:wardgate:openai-openapi"
_CACHE_FORMAT = 1  # bump when _normalise changes, so stale caches are ignored
_ANNOTATIONS = ("description", "title", "deprecated", "example", "examples", "default")


def validate(schema_name: str, instance: object) -> None:
    """Raise `jsonschema.ValidationError` unless `instance` matches `#/components/schemas/<schema_name>`."""
    validator = _validator(schema_name)
    error = best_match(validator.iter_errors(instance))
    if error is None:
        return
    location = error.json_path
    snippet = json.dumps(error.instance, default=str)
    if len(snippet) > 200:
        snippet = snippet[:200] + "…"
    raise jsonschema.ValidationError(
        f"{schema_name}: at {location}: {error.message} (value: {snippet})",
        validator=error.validator,
        path=error.path,
        schema_path=error.schema_path,
        instance=error.instance,
        cause=error,
    )


def schema_names() -> list[str]:
    return sorted(_document()["components"]["schemas"])


@functools.cache
def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    if schema_name not in _document()["components"]["schemas"]:
        raise KeyError(f"no component schema named {schema_name!r} in {SPEC_PATH.name}")
    return jsonschema.Draft202012Validator(
        {"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"}, registry=_registry()
    )


@functools.cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(_document(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    return registry


@functools.cache
def _document() -> dict[str, Any]:
    stat = SPEC_PATH.stat()
    cache_file = _cache_dir() / f"openai-openapi-v{_CACHE_FORMAT}-{stat.st_size}-{stat.st_mtime_ns}.json"
    document: dict[str, Any]
    try:
        document = json.loads(cache_file.read_text(encoding="utf-8"))
        return document
    except (OSError, ValueError):
        pass
    with SPEC_PATH.open("rb") as f:
        document = _normalise(yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    _write_atomically(cache_file, json.dumps(document, default=str))
    return document


def _normalise(node: Any) -> Any:
    """Round-trip through JSON types and turn OpenAPI 3.0 `nullable: true` into an explicit null branch."""
    if isinstance(node, list):
        return [_normalise(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {str(key): _normalise(value) for key, value in node.items()}
    if not isinstance(node.get("nullable"), bool):  # a property may itself be named "nullable"
        return node
    if node.pop("nullable") is False:
        return node
    annotations = {key: node.pop(key) for key in _ANNOTATIONS if key in node}
    return {"anyOf": [node, {"type": "null"}], **annotations}


def _cache_dir() -> Path:
    for candidate in (REPO_ROOT / ".pytest_cache" / "wardgate", Path(tempfile.gettempdir()) / "wardgate"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    return Path(tempfile.mkdtemp(prefix="wardgate-spec-"))


def _write_atomically(path: Path, text: str) -> None:
    """Parallel test workers may race to build the cache; each writes its own file and renames it."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        pass
