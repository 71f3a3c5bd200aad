"""A real HTTP fake of OpenAI's Files and Batches APIs on loopback, which never holds a file in memory.

- ``POST /v1/files`` (multipart: ``purpose`` and ``file``): the file part is written to disk as it arrives; the
  answer is OpenAI's file object (``id`` ``file-fake<n>``, ``bytes``, ``filename``, ``purpose``, ``status``).
  With ``cut_uploads`` set, the fake reads the first 64 KiB of an upload and drops the connection.
- With ``cut_downloads`` set, a file's content is cut after its first byte (the connection drops).
- ``GET /v1/files`` (list), ``GET``/``DELETE /v1/files/{id}``, ``GET /v1/files/{id}/content`` (sent from disk).
- ``POST /v1/batches``: the input file must exist; the answer is a batch ``in_progress``. The batch has already
  run: each input line was answered as the fake OpenAI answers it (``openai_chat``/``openai_logic``, with the
  fake's ``cached_tokens`` and ``reasoning_tokens``; a model ``error-500`` line fails), into an output file (and an
  error file when a line failed). ``usage[batch_id]`` holds the sum of the usage the fake reported, for tests.
- ``GET /v1/batches/{id}``: the batch ``completed``, with its ``output_file_id`` and request counts; ``POST
  …/cancel``: ``cancelled``; ``GET /v1/batches``: the list.
- ``inflate(batch_id, megabytes)`` repeats the output's lines until the file is that large (usage follows), for
  the memory test of a large batch output.
Authentication: ``Authorization: Bearer <api_key>``.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from tests.fakes import openai_chat as chat
from tests.fakes import openai_logic as logic
from tests.fakes.server import LoopbackServer, RecordedRequest

_FILE = re.compile(r"/v1/files/(?P<id>[^/]+)(?P<content>/content)?")
_BATCH = re.compile(r"/v1/batches/(?P<id>[^/]+)(?P<cancel>/cancel)?")


class FakeOpenAIFiles(LoopbackServer):
    thread_name = "fake-openai-files"
    url_path = "/v1"

    def __init__(self, api_key: str = "sk-fake-upstream", *, cached_tokens: int = 0, reasoning_tokens: int = 0) -> None:
        super().__init__()
        self.api_key = api_key
        self.cached_tokens = cached_tokens
        self.reasoning_tokens = reasoning_tokens
        self.cut_uploads = False
        self.cut_downloads = False
        self.directory = Path(tempfile.mkdtemp(prefix="fake-openai-files-"))
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.usage: dict[str, dict[str, int]] = {}  # batch id -> summed usage of its output
        self.received: dict[str, bytes] = {}  # file id -> its first 64 KiB (what tests check of small files)
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request
        self._ids = itertools.count(1)
        self._files_lock = threading.Lock()

    def stop(self) -> None:
        super().stop()
        for path in self.directory.glob("*"):
            path.unlink(missing_ok=True)
        self.directory.rmdir()

    # --- serving --------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:  # bodies are never recorded whole
        self.calls.append((request.method, request.path))
        if request.headers.get("Authorization", "") != f"Bearer {self.api_key}":
            return _json(401, logic.invalid_api_key_body(None))
        path, method = request.path, request.method
        if path == "/v1/files" and method == "POST":
            return await self._upload(request)
        if path == "/v1/files" and method == "GET":
            return _json(200, _page(list(self.files.values())))
        if path == "/v1/batches" and method == "POST":
            return self._create_batch(orjson.loads(await request.read()))
        if path == "/v1/batches" and method == "GET":
            return _json(200, _page([_present(b) for b in self.batches.values()]))
        if (match := _FILE.fullmatch(path)) is not None and match["id"] in self.files:
            file_id = match["id"]
            if match["content"] and method == "GET" and self.cut_downloads:
                return await _cut(request, (self.directory / file_id).stat().st_size)
            if match["content"] and method == "GET":
                return web.FileResponse(self.directory / file_id, headers={"content-type": "application/jsonl"})
            if method == "DELETE":
                del self.files[file_id]
                return _json(200, {"id": file_id, "object": "file", "deleted": True})
            return _json(200, self.files[file_id])
        if (match := _BATCH.fullmatch(path)) is not None and match["id"] in self.batches:
            batch = self.batches[match["id"]]
            now = int(time.time())
            if match["cancel"] and method == "POST":
                batch.update(status="cancelled", cancelling_at=now, cancelled_at=now)
            elif batch["status"] == "in_progress":
                batch.update(status="completed", finalizing_at=now, completed_at=now)
            return _json(200, _present(batch))
        return _json(404, logic.error_body(f"No such object: {path}", "invalid_request_error"))

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
        raise AssertionError("the files fake answers in _handle")

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        reader = await request.multipart()
        purpose, size, filename = None, 0, "upload"
        file_id = f"file-fake{next(self._ids):08d}"
        head = bytearray()
        while (part := await reader.next()) is not None:
            if part.name == "purpose":
                purpose = (await part.read()).decode()  # type: ignore[union-attr]
            elif part.name == "file":
                filename = part.filename or filename  # type: ignore[union-attr]
                with open(self.directory / file_id, "wb") as out:  # noqa: ASYNC230 (a test fake; local disk)
                    while chunk := await part.read_chunk(1024 * 1024):  # type: ignore[union-attr]
                        size += len(chunk)
                        if len(head) < 65536:
                            head += chunk[: 65536 - len(head)]
                        out.write(chunk)
                        if self.cut_uploads and size >= 65536:
                            assert request.transport is not None
                            request.transport.close()  # mid-upload: the client sees the connection drop
                            raise web.HTTPBadRequest()
            else:
                await part.read()  # type: ignore[union-attr]
        if purpose is None or size == 0:
            return _json(400, logic.error_body("Missing 'purpose' or 'file'.", "invalid_request_error", param="file"))
        self.received[file_id] = bytes(head)
        record = {"id": file_id, "object": "file", "bytes": size, "created_at": int(time.time()),
                  "filename": filename, "purpose": purpose, "status": "processed"}  # fmt: skip
        self.files[file_id] = record
        return _json(200, record)

    def _create_batch(self, body: dict[str, Any]) -> web.Response:
        input_file = body.get("input_file_id")
        if input_file not in self.files:
            message = f"No such File object: {input_file}"
            return _json(404, logic.error_body(message, "invalid_request_error", param="input_file_id"))
        batch_id = f"batch_fake{next(self._ids):08d}"
        output_id, error_id = f"file-fake{next(self._ids):08d}", f"file-fake{next(self._ids):08d}"
        total = {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0, "reasoning_tokens": 0}
        counts = {"total": 0, "completed": 0, "failed": 0}
        paths = self.directory / input_file, self.directory / output_id, self.directory / error_id
        with open(paths[0], "rb") as lines, open(paths[1], "wb") as out, open(paths[2], "wb") as errors:
            for line in lines:
                if not line.strip():
                    continue
                request = orjson.loads(line)
                counts["total"] += 1
                answer = self._answer(request, body["endpoint"])
                if answer is None:
                    counts["failed"] += 1
                    failure = {"id": f"batch_req_{counts['total']}", "custom_id": request["custom_id"],
                               "response": {"status_code": 500, "request_id": "req_fake", "body": {
                                   "error": {"message": "The server had an error", "type": "server_error"}}},
                               "error": None}  # fmt: skip
                    errors.write(orjson.dumps(failure) + b"\n")
                    continue
                counts["completed"] += 1
                _add(total, answer["usage"])
                row = {
                    "id": f"batch_req_{counts['total']}",
                    "custom_id": request["custom_id"],
                    "response": {"status_code": 200, "request_id": "req_fake", "body": answer},
                    "error": None,
                }
                out.write(orjson.dumps(row) + b"\n")
        self.usage[batch_id] = total
        for file_id, purpose in ((output_id, "batch_output"), (error_id, "batch_output")):
            self.files[file_id] = {"id": file_id, "object": "file", "bytes": os.path.getsize(self.directory / file_id),
                                   "created_at": int(time.time()), "filename": f"{file_id}.jsonl",
                                   "purpose": purpose, "status": "processed"}  # fmt: skip
        now = int(time.time())
        batch = {"id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                 "input_file_id": input_file, "completion_window": body["completion_window"],
                 "status": "in_progress", "output_file_id": output_id,
                 "error_file_id": error_id if counts["failed"] else None, "created_at": now, "in_progress_at": now,
                 "expires_at": now + 86400, "finalizing_at": None, "completed_at": None, "failed_at": None,
                 "expired_at": None, "cancelling_at": None, "cancelled_at": None, "request_counts": counts,
                 "metadata": body.get("metadata")}  # fmt: skip
        self.batches[batch_id] = batch
        return _json(200, _present(batch))

    def _answer(self, request: dict[str, Any], endpoint: str) -> dict[str, Any] | None:
        body = request["body"]
        model = body["model"]
        if model == "error-500":
            return None
        meta = logic.Meta(id=f"chatcmpl-fake{next(self._ids):016d}", created=int(time.time()), model=model,
                          cached_tokens=self.cached_tokens, reasoning_tokens=self.reasoning_tokens)  # fmt: skip
        if endpoint == "/v1/embeddings":
            return logic.embeddings(body, model, 8)
        return chat.chat_completion(body, meta)

    def inflate(self, batch_id: str, megabytes: int) -> None:
        """Repeat the batch's output lines until the file holds at least ``megabytes`` MiB; usage follows."""
        batch = self.batches[batch_id]
        path = self.directory / batch["output_file_id"]
        lines = path.read_bytes().splitlines(keepends=True)
        total = self.usage[batch_id]
        once = dict(total)
        repeat = max(1, (1024 * 1024) // max(1, sum(len(line) for line in lines)))
        block = b"".join(lines) * repeat  # about a megabyte: the same lines `repeat` times
        size = len(block) // repeat
        with open(path, "ab") as out:
            while size < megabytes * 1024 * 1024:
                out.write(block)
                size += len(block)
                for key, value in once.items():
                    total[key] += value * repeat


async def _cut(request: web.Request, size: int) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "application/jsonl", "content-length": str(size)})
    await response.prepare(request)
    await response.write(b"{")
    assert request.transport is not None
    request.transport.close()  # mid-download: the client sees the body end short
    return response


def _add(total: dict[str, int], usage: dict[str, Any]) -> None:
    total["prompt_tokens"] += usage.get("prompt_tokens", 0)
    total["completion_tokens"] += usage.get("completion_tokens", 0)
    total["cached_tokens"] += (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    total["reasoning_tokens"] += (usage.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)


def _present(obj: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's schema types the batch's timestamps as integers: an unset one is left out, not null."""
    return {key: value for key, value in obj.items() if value is not None}


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": items, "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None, "has_more": False}  # fmt: skip


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")
