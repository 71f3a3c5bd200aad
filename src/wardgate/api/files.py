"""Files and batches on the OpenAI surface: ``/v1/files`` (upload, list, retrieve, delete, content) and
``/v1/batches`` (create, list, retrieve, cancel), at the one provider ``files.provider`` names.

Uploads are read as they stream in and spooled to disk (``api.multipart``), then streamed to the provider from
there; downloads are relayed as they arrive. Neither is ever held in memory. A batch input file (``purpose: batch``)
is checked line by line before it leaves: JSONL, one request a line, every line naming the same configured model,
which must have a deployment on the files provider; the public name is rewritten to that deployment's upstream name.

Ownership: the provider knows only the gateway's key, so the gateway records who created each file and batch
(``store/provider_objects.py``) and answers only its owner (the caller's project): another owner's id is not found.
Lists are the provider's page filtered to the caller's own ids.

Governance: creating a batch is a call through the pipeline (identity, model access, budgets and rate limits,
routing kept to the files provider, the ledger), so a key that may not use the model, or whose budget is spent,
cannot start one. Settlement (``api/batch_settle.py``): the first retrieval or poller round (on any replica) that
finds the batch ended takes its lease and meters the output line by line (``providers/files.py``) as one more
pipeline call of operation ``batch_output``, charged to the batch's creator and priced with the batch discount; it
is never refused (the spend happened) and it counts against the budgets, so the next batch or call over the cap is
refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any, cast

import orjson

from wardgate.api.asgi import Disconnected, Receive, Scope, Send, query_params, read_body, send_bytes, send_error
from wardgate.api.batch_input import BATCH_ENDPOINTS, batch_model, rewritten, upstream_model
from wardgate.api.batch_settle import adopt_outputs, settle, valid_id
from wardgate.api.body import parse_object
from wardgate.api.multipart import Form, boundary_of, read_form
from wardgate.api.openai import id_headers, request_meta, response_headers
from wardgate.api.responses import owner_of
from wardgate.core.call import Call
from wardgate.core.errors import InternalError, InvalidRequest, NotFound, WardgateError

if TYPE_CHECKING:
    from wardgate.core.runtime import Runtime
    from wardgate.providers.files import FileHost
    from wardgate.store.provider_objects import ProviderObjectStore

log = logging.getLogger("wardgate.api")
FILE_PREFIXES = ("/v1/files/", "/files/")
BATCH_PREFIXES = ("/v1/batches/", "/batches/")
PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
_MAX_ID = 128
_LIST_QUERY = frozenset({"after", "limit", "order", "purpose"})


def query_of(scope: Scope, names: frozenset[str] = _LIST_QUERY) -> dict[str, str]:
    parsed = query_params(scope)
    return {key: values[-1][:_MAX_ID] for key, values in parsed.items() if key in names}


class FilesSurface:
    def __init__(self, runtime: Callable[[], Runtime], objects: Callable[[], ProviderObjectStore]) -> None:
        self._runtime = runtime
        self._objects = objects

    def _host(self, runtime: Runtime) -> FileHost:
        if runtime.files is None:
            raise NotFound("Files and batches are not enabled on this gateway (the operator sets files.provider).")
        return cast("FileHost", runtime.files)

    async def _owner(self, scope: Scope, runtime: Runtime, credential: str | None) -> str:
        cert = runtime.read_client_cert(scope) if runtime.read_client_cert is not None else None
        return owner_of(await runtime.authenticate(credential, client_cert=cert))

    async def _guarded(self, scope: Scope, send: Send, handler: Callable[[], Any], headers: list[Any]) -> None:
        try:
            await handler()
        except WardgateError as exc:
            await send_error(send, exc, headers)
        except Exception:  # a bug: the client still gets an answer in its own shape
            log.exception("request %s failed", headers[0][1].decode())
            failure = InternalError(f"The gateway failed to handle this request (request id {headers[0][1].decode()}).")
            await send_error(send, failure, headers)

    # --- /v1/files ----------------------------------------------------------------------------------------------

    async def files(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "GET":
            await self._list(scope, send, "file", "/files")
            return
        runtime = self._runtime()
        credential, request_id, client_id, length = request_meta(scope)
        headers = id_headers(request_id, client_id)
        form: Form | None = None
        try:
            host = self._host(runtime)
            boundary = boundary_of(_header(scope, b"content-type"))
            if boundary is None:
                raise InvalidRequest("This endpoint takes a multipart/form-data body.", param="file")
            owner = await self._owner(scope, runtime, credential)  # before reading: a stranger uploads nothing
            form = await read_form(receive, boundary, runtime.max_upload_bytes, length)
        except Disconnected:
            return
        except WardgateError as exc:
            await send_error(send, exc, headers)
            return

        async def upload() -> None:
            assert form is not None
            files = [u for u in form.uploads if u.field == "file"]
            if len(files) != 1:
                raise InvalidRequest(
                    "Missing required parameter: 'file' (one file, as a multipart file).", param="file"
                )
            fields = [(n, v) for n, v in form.fields if n != "file"]
            purpose = next((v for n, v in fields if n == "purpose"), None)
            if purpose is None:
                raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose")
            if purpose not in PURPOSES:
                raise InvalidRequest(
                    f"Invalid 'purpose': expected one of {', '.join(sorted(PURPOSES))}.", param="purpose"
                )
            file, model = files[0], None
            if purpose == "batch":
                model = await asyncio.to_thread(batch_model, file.path, runtime.max_body_bytes)
                target = upstream_model(runtime, model, host.name)
                if target != model:
                    file = await asyncio.to_thread(rewritten, file, target)
                    form.uploads.append(file)  # removed with the form
            raw = await host.upload(fields, file)
            answer = parse_object(raw, "The provider answered with invalid JSON.")
            file_id = answer.get("id")
            if not isinstance(file_id, str) or not valid_id(file_id):
                raise InternalError("The provider answered an upload without a file id.")
            await self._objects().put(file_id, "file", owner, host.name, model)
            await send_bytes(send, 200, raw, headers)

        try:
            await self._guarded(scope, send, upload, headers)
        finally:
            form.close()

    async def file(self, scope: Scope, receive: Receive, send: Send) -> None:
        """GET/DELETE /v1/files/{id}, GET /v1/files/{id}/content."""
        runtime = self._runtime()
        credential, request_id, client_id, _ = request_meta(scope)
        headers = id_headers(request_id, client_id)
        path: str = scope["path"]
        rest = path[len(next(p for p in FILE_PREFIXES if path.startswith(p))) :]
        file_id, _, tail = rest.partition("/")
        method = scope["method"]

        async def handle() -> None:
            if tail not in ("", "content") or (tail and method != "GET") or method not in ("GET", "DELETE"):
                raise NotFound(f"Invalid URL ({method} {path}).")
            host = self._host(runtime)
            owner = await self._owner(scope, runtime, credential)
            missing = NotFound(f"No such File object: {file_id[:_MAX_ID]}", param="id")
            if not valid_id(file_id) or await self._objects().get(file_id, "file", owner) is None:
                raise missing
            if method == "DELETE":
                raw = await host.request("DELETE", f"/files/{file_id}")
                await self._objects().delete(file_id, "file", owner)
                await send_bytes(send, 200, raw, headers)
            elif tail == "content":
                await self._download(send, host, f"/files/{file_id}/content", headers)
            else:
                await send_bytes(send, 200, await host.request("GET", f"/files/{file_id}"), headers)

        await self._guarded(scope, send, handle, headers)

    async def _download(
        self, send: Send, host: FileHost, path: str, headers: list[Any], query: dict[str, str] | None = None
    ) -> None:
        response = await host.open_content(path, query)
        out = [*headers, (b"content-type", response.headers.get("content-type", "application/octet-stream").encode())]
        if "content-length" in response.headers:
            out.append((b"content-length", response.headers["content-length"].encode()))
        started = False
        try:
            async for data in host.relay(response):
                if not started:
                    await send({"type": "http.response.start", "status": 200, "headers": out})
                    started = True
                await send({"type": "http.response.body", "body": data, "more_body": True})
        except WardgateError as exc:
            if not started:
                raise
            log.warning("download of %s cut: %s", path, exc)  # started: the client sees a cut body
            return
        if not started:
            await send({"type": "http.response.start", "status": 200, "headers": out})
        await send({"type": "http.response.body", "body": b""})

    async def _list(
        self, scope: Scope, send: Send, kind: str, path: str, host_of: Callable[[Runtime], FileHost] | None = None
    ) -> None:
        runtime = self._runtime()
        credential, request_id, client_id, _ = request_meta(scope)
        headers = id_headers(request_id, client_id)

        async def handle() -> None:
            host = (host_of or self._host)(runtime)
            owner = await self._owner(scope, runtime, credential)
            page = parse_object(await host.request("GET", path, query_of(scope)), "The provider answered invalid JSON.")
            data = page.get("data")
            items = [x for x in data if isinstance(x, dict)] if isinstance(data, list) else []
            mine = await self._objects().owned(kind, owner, [str(x.get("id")) for x in items])
            page["data"] = [x for x in items if x.get("id") in mine]
            await send_bytes(send, 200, orjson.dumps(page), headers)

        await self._guarded(scope, send, handle, headers)

    # --- /v1/batches --------------------------------------------------------------------------------------------

    async def batches(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "GET":
            await self._list(scope, send, "batch", "/batches")
            return
        started = perf_counter()
        runtime = self._runtime()
        credential, request_id, client_id, length = request_meta(scope)
        headers = id_headers(request_id, client_id)
        try:
            raw = await read_body(receive, runtime.max_body_bytes, length)
        except Disconnected:
            return
        except WardgateError as exc:
            await send_error(send, exc, headers)
            return
        call: Call | None = None

        async def create() -> None:
            nonlocal call
            host = self._host(runtime)
            body = parse_object(raw, "We could not parse the JSON body of your request.")
            input_file = body.get("input_file_id")
            if not isinstance(input_file, str) or not input_file:
                raise InvalidRequest("Missing required parameter: 'input_file_id'.", param="input_file_id")
            endpoint = body.get("endpoint")
            if endpoint not in BATCH_ENDPOINTS:
                raise InvalidRequest(f"Invalid 'endpoint': expected one of {', '.join(sorted(BATCH_ENDPOINTS))}.",
                                     param="endpoint")  # fmt: skip
            if body.get("completion_window") != "24h":
                raise InvalidRequest("Invalid 'completion_window': expected '24h'.", param="completion_window")
            owner = await self._owner(scope, runtime, credential)
            stored = await self._objects().get(input_file, "file", owner) if valid_id(input_file) else None
            if stored is None:
                raise NotFound(f"No such File object: {input_file[:_MAX_ID]}", param="input_file_id")
            if stored.model is None:
                raise InvalidRequest("The input file was not uploaded with purpose 'batch'.", param="input_file_id")
            call = Call(request_id, "openai", "batches", stored.model, body, False, credential, started)
            call.client_request_id = client_id
            call.provider = host.name
            scope["wardgate.call"] = call
            result = await runtime.pipeline.run(call)
            answer = result.body
            batch_id = answer.get("id")
            if not isinstance(batch_id, str) or not valid_id(batch_id):
                raise InternalError("The provider answered a batch without an id.")
            await self._objects().put(batch_id, "batch", owner, host.name, stored.model, call.principal)
            await send_bytes(send, 200, result.to_bytes(), response_headers(call, perf_counter()))

        await self._guarded(scope, send, create, headers)

    async def batch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """GET /v1/batches/{id}, POST /v1/batches/{id}/cancel."""
        runtime = self._runtime()
        credential, request_id, client_id, _ = request_meta(scope)
        headers = id_headers(request_id, client_id)
        path: str = scope["path"]
        rest = path[len(next(p for p in BATCH_PREFIXES if path.startswith(p))) :]
        batch_id, _, tail = rest.partition("/")
        method = scope["method"]

        async def handle() -> None:
            if (tail, method) not in (("", "GET"), ("cancel", "POST")):
                raise NotFound(f"Invalid URL ({method} {path}).")
            host = self._host(runtime)
            owner = await self._owner(scope, runtime, credential)
            stored = await self._objects().get(batch_id, "batch", owner) if valid_id(batch_id) else None
            if stored is None:
                raise NotFound(f"No such Batch object: {batch_id[:_MAX_ID]}", param="batch_id")
            raw = await host.request("POST" if tail else "GET", f"/batches/{batch_id}" + (f"/{tail}" if tail else ""))
            answer = parse_object(raw, "The provider answered with invalid JSON.")
            await adopt_outputs(self._objects(), answer, owner, host.name)  # the batch's files: the owner's
            await settle(runtime, self._objects(), stored, answer, credential)
            await send_bytes(send, 200, raw, headers)

        await self._guarded(scope, send, handle, headers)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
