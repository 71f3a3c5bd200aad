"""A prompt version's content: checked once at creation, compiled once per version, rendered in a sandbox.

Templates are Jinja2 in an ``ImmutableSandboxedEnvironment`` that also refuses every attribute of a Python object
(dict keys still read as ``{{ user.name }}``), with no globals (no ``range``, ``cycler``…) and strict undefined.
A template that names an underscore attribute or calls anything is refused when the version is created, before it
can ever run; the sandbox is the second wall.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson
from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROLES = frozenset({"system", "developer", "user", "assistant"})
# fields a version may not set: the surface decides them, or the gateway does
_RESERVED_PARAMS = frozenset({"messages", "model", "stream", "wardgate_prompt", "user"})
RESERVED_VARIABLES = frozenset({"principal", "project"})  # bound from identity, never from the request
_OPTIONAL_CONTENT = ("type", "examples", "tools")  # the artifacts: prompts/artifacts.py


class SpecError(ValueError):
    """The version's content is refused; ``param`` names the field (``messages[1].content``)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


class RenderError(ValueError):
    """A request's variables do not fit the version: ``variable`` names the one at fault."""

    def __init__(self, message: str, variable: str) -> None:
        super().__init__(message)
        self.variable = variable


class _Sandbox(ImmutableSandboxedEnvironment):
    """Templates read data, never an object's attributes or methods: ``a.b`` and ``a["b"]`` are item lookups."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self.getitem(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping | list | tuple | str):
            try:
                return obj[argument]
            except (KeyError, IndexError, TypeError):
                pass
        return self.undefined(obj=obj, name=argument if isinstance(argument, str) else None)


_ENV = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_ENV.globals.clear()


def version_id(spec: Mapping[str, Any]) -> str:
    """The content hash: the same messages, model, params, variables and overrides give the same id everywhere."""
    content = {k: spec.get(k) for k in ("messages", "model", "params", "variables", "overrides")}
    for optional in _OPTIONAL_CONTENT:  # hashed only when set: the ids of versions without them never change
        if spec.get(optional) is not None:
            content[optional] = spec[optional]
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_template(source: str, param: str) -> frozenset[str]:
    """Parse one template and refuse what could reach past the data; returns the variables it reads."""
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise SpecError(f"{param}: template syntax error on line {exc.lineno}: {exc.message}", param) from None
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Call, nodes.Import, nodes.FromImport)):
        if isinstance(node, nodes.Call):
            raise SpecError(f"{param}: templates may not call functions or methods", param)
        if isinstance(node, nodes.Import | nodes.FromImport):
            raise SpecError(f"{param}: templates may not import", param)
        name = (
            node.attr
            if isinstance(node, nodes.Getattr)
            else _constant(node)
            if isinstance(node, nodes.Getitem)
            else None
        )
        if isinstance(name, str) and name.startswith("_"):
            raise SpecError(f"{param}: templates may not read underscore attributes ({name!r})", param)
    for node in tree.find_all(nodes.Filter):
        if node.name == "attr":
            raise SpecError(f"{param}: the `attr` filter is not allowed", param)
    return frozenset(meta.find_undeclared_variables(tree))


def _constant(node: nodes.Getitem) -> Any:
    return node.arg.value if isinstance(node.arg, nodes.Const) else None


@dataclass(frozen=True, slots=True)
class CompiledVersion:
    """One version ready to render: its templates compiled, its variable schema compiled. Immutable, so cached by id
    forever."""

    id: str
    number: int
    prompt: str
    messages: tuple[tuple[str, Any], ...]  # (role, compiled template)
    model: str | None
    params: Mapping[str, Any]
    overrides: frozenset[str] | None  # None: every param, not the model
    required: frozenset[str]  # variables the templates read, identity's excluded
    schema: jsonschema_rs.Validator | None

    def render(self, variables: Mapping[str, Any], max_bytes: int) -> list[dict[str, Any]]:
        for name in sorted(self.required):
            if name not in variables:
                raise RenderError(f"Missing prompt variable '{name}'.", name)
        if self.schema is not None:
            request_only = {k: v for k, v in variables.items() if k not in RESERVED_VARIABLES}
            if not self.schema.is_valid(request_only):  # the fast path: ~1 µs (Rust); the walk only on failure
                error = next(iter(self.schema.iter_errors(request_only)))
                name = _variable_of(error)
                raise RenderError(f"Prompt variable '{name}' is invalid: {error.message[:300]}", name)
        out: list[dict[str, Any]] = []
        size = 0
        for role, template in self.messages:
            parts = []
            try:
                for piece in template.generate(variables):
                    size += len(piece)
                    if size > max_bytes:
                        raise RenderError(f"The rendered prompt is larger than {max_bytes} characters.", "")
                    parts.append(piece)
            except RenderError:
                raise
            except Exception as exc:  # the sandbox refused something, or a filter failed on the values given
                raise RenderError(f"The prompt could not be rendered: {str(exc)[:200]}", "") from None
            out.append({"role": role, "content": "".join(parts)})
        return out


def _variable_of(error: jsonschema_rs.ValidationError) -> str:
    if error.instance_path:
        return str(error.instance_path[0])
    if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.Required):
        return str(error.kind.property)
    return ""


def _no_retrieval(uri: str) -> Any:
    raise ValueError(f"{uri}: a prompt's variable schema may not reference another document")


def _validator(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """Compiled offline: a schema never makes the gateway fetch anything."""
    return jsonschema_rs.validator_for(schema, retriever=_no_retrieval)


def check_spec(spec: Mapping[str, Any]) -> frozenset[str]:
    """Refuse a version whose content cannot be served; returns the variables its templates read."""
    messages = spec.get("messages")
    tool_set = bool((spec.get("params") or {}).get("tools")) if isinstance(spec.get("params"), dict) else False
    if not isinstance(messages, list) or not (messages or tool_set or spec.get("examples") is not None):
        raise SpecError("messages: must be a non-empty array of {role, content} templates", "messages")
    read: set[str] = set()
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise SpecError(f"{where}: must be an object with exactly `role` and `content`", where)
        if message["role"] not in ROLES:
            raise SpecError(f"{where}.role: must be one of {', '.join(sorted(ROLES))}", where + ".role")
        if not isinstance(message["content"], str):
            raise SpecError(f"{where}.content: must be a template string", where + ".content")
        read |= check_template(message["content"], where + ".content")
    kind = spec.get("type")
    if kind not in (None, "chat", "text"):
        raise SpecError("type: chat or text", "type")
    if kind == "text" and (len(messages) != 1 or messages[0]["role"] != "user"):
        raise SpecError("messages: a text prompt is exactly one user message", "messages")
    model = spec.get("model")
    if model is not None and (not isinstance(model, str) or not model or model.startswith("prompt:")):
        raise SpecError("model: must be a configured model's name", "model")
    params = spec.get("params") or {}
    if not isinstance(params, dict):
        raise SpecError("params: must be an object", "params")
    for name in params:
        if name in _RESERVED_PARAMS:
            raise SpecError(f"params.{name}: the request decides it, a version may not set it", f"params.{name}")
    schema = spec.get("variables")
    if schema is not None:
        if not isinstance(schema, dict):
            raise SpecError("variables: must be a JSON schema object", "variables")
        if _remote_ref(schema):
            raise SpecError("variables: only local references ($ref: '#/…') are allowed", "variables")
        try:
            _validator(schema)
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
            first = str(exc).split("\n", 1)[0][:200]
            raise SpecError(f"variables: not a usable JSON schema: {first}", "variables") from None
    overrides = spec.get("overrides")
    if overrides is not None and (
        not isinstance(overrides, list) or not all(isinstance(o, str) and o for o in overrides)
    ):
        raise SpecError("overrides: must be an array of field names", "overrides")
    return frozenset(read)


def _remote_ref(value: Any) -> bool:
    if isinstance(value, dict):
        for key in ("$ref", "$dynamicRef", "$recursiveRef"):
            ref = value.get(key)
            if isinstance(ref, str) and not ref.startswith("#"):
                return True
        return any(_remote_ref(v) for v in value.values())
    if isinstance(value, list):
        return any(_remote_ref(v) for v in value)
    return False


def compile_version(prompt: str, vid: str, number: int, spec: Mapping[str, Any]) -> CompiledVersion:
    required = check_spec(spec)
    messages: Sequence[dict[str, Any]] = spec["messages"]
    schema = spec.get("variables")
    overrides = spec.get("overrides")
    return CompiledVersion(
        id=vid,
        number=number,
        prompt=prompt,
        messages=tuple((m["role"], _ENV.from_string(m["content"])) for m in messages),
        model=spec.get("model"),
        params=dict(spec.get("params") or {}),
        overrides=frozenset(overrides) if overrides is not None else None,
        required=required - RESERVED_VARIABLES,
        schema=_validator(schema) if schema is not None else None,
    )
