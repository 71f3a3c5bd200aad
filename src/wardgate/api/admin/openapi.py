"""The OpenAPI 3.1 document of the admin API: paths from the operation table, schemas from the pydantic models that
validate the bodies and shape the answers, so what it promises is what the code does."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from wardgate import __version__
from wardgate.api.admin.common import Operation
from wardgate.api.admin.schemas import ErrorBody

_ERRORS = {
    400: "The request is malformed; `error.param` names the field.",
    401: "No credential, or not one the admin API takes.",
    403: "The caller can see the resource but their role does not allow this.",
    404: "No such resource, or one in a project the caller holds no role in.",
    409: "The change conflicts with the current state (a duplicate name, a revoked key).",
    502: "An upstream the gateway depends on for this (the OIDC issuer) failed or answered badly.",
    503: "The gateway cannot do this now (the store is down, or no session secret is configured).",
}
_PATH_PARAM = re.compile(r"{(\w+)}")


def document(operations: Sequence[Operation]) -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for op in operations:
        wanted.append((op.response, "serialization"))
        if op.body is not None:
            wanted.append((op.body, "validation"))
    refs, top = models_json_schema(list(dict.fromkeys(wanted)), ref_template="#/components/schemas/{model}")
    error = {"application/json": {"schema": refs[(ErrorBody, "serialization")]}}
    paths: dict[str, dict[str, Any]] = {}
    seen_ids: set[str] = set()
    for op in operations:
        operation_id = f"{op.tag}_{op.handler.__name__}"
        assert operation_id not in seen_ids, operation_id
        seen_ids.add(operation_id)
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in _PATH_PARAM.findall(op.path)
        ]
        parameters += [
            {"name": q.name, "in": "query", "required": q.required, "description": q.description, "schema": q.schema}
            for q in op.query
        ]
        success = {
            "description": op.response.__doc__.split("\n")[0] if op.response.__doc__ else op.summary,
            "content": {"application/json": {"schema": refs[(op.response, "serialization")]}},
        }
        responses: dict[str, Any] = {str(status): success for status in (op.status, *op.also)}
        for status in op.errors:
            responses[str(status)] = {"description": _ERRORS[status], "content": error}
        entry: dict[str, Any] = {
            "operationId": operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": parameters,
            "responses": responses,
        }
        if op.description:
            entry["description"] = op.description
        extra = dict(op.extra)  # e.g. `security: []` on the routes that take no credential
        responses[str(op.status)]["content"].update(extra.pop("other_content", {}))  # CSV, Parquet …
        entry.update(extra)
        if op.body is not None:
            entry["requestBody"] = {
                "required": op.body_required,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Wardgate admin API",
            "version": __version__,
            "description": "Projects, teams, users, roles, agents, virtual keys, usage and the audit trail. "
            "Authenticate with `Authorization: Bearer <master key>` or a virtual key bound to a user.",
        },
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
