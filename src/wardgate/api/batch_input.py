"""A batch input file, checked and rewritten a line at a time before it leaves for the provider (api/files.py):
JSONL, one request a line, every line naming the same configured model, which must have a deployment on the files
provider; the public name is rewritten to that deployment's upstream name in a second temporary file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

import orjson

from wardgate.core.errors import InvalidRequest
from wardgate.core.upload import Upload

if TYPE_CHECKING:
    from wardgate.core.runtime import Runtime

BATCH_ENDPOINTS = frozenset(
    {"/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/responses", "/v1/moderations"}
)
MAX_BATCH_LINES = 50_000  # OpenAI's limit of requests in one batch
_MAX_ID = 128


def batch_model(path: str, max_line: int) -> str:
    """The one model every line names: each line a request object, read a line at a time."""
    model: str | None = None
    count = 0
    with open(path, "rb") as lines:
        for number, line in enumerate(_bounded_lines(lines, max_line), start=1):
            if not line.strip():
                continue
            count += 1
            if count > MAX_BATCH_LINES:
                raise InvalidRequest(f"A batch holds at most {MAX_BATCH_LINES} requests.", param="file")
            try:
                request = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise InvalidRequest(f"Line {number} of the batch file is not JSON.", param="file") from None
            body = request.get("body") if isinstance(request, dict) else None
            if (
                not isinstance(request, dict)
                or not isinstance(request.get("custom_id"), str)
                or request.get("method") != "POST"
                or request.get("url") not in BATCH_ENDPOINTS
                or not isinstance(body, dict)
                or not isinstance(body.get("model"), str)
            ):
                raise InvalidRequest(
                    f"Line {number} of the batch file is not a request: it needs custom_id, method 'POST', a url "
                    "among the batch endpoints and a body naming its model.",
                    param="file",
                )
            if model is None:
                model = body["model"]
            elif body["model"] != model:
                raise InvalidRequest(f"Line {number} names another model: a batch uses one model.", param="file")
    if model is None:
        raise InvalidRequest("The batch file holds no request.", param="file")
    return model


def _bounded_lines(handle: IO[bytes], max_line: int) -> Iterator[bytes]:
    while True:
        line = handle.readline(max_line + 1)
        if not line:
            return
        if len(line) > max_line and not line.endswith(b"\n"):
            raise InvalidRequest(f"A line of the batch file is longer than {max_line} bytes.", param="file")
        yield line


def upstream_model(runtime: Runtime, model: str, provider: str) -> str:
    for deployment in runtime.deployments.get(model, ()):
        if deployment.provider == provider:
            return deployment.upstream_model
    raise InvalidRequest(
        f"The batch file's model `{model[:_MAX_ID]}` has no deployment on the files provider ({provider}).",
        param="file",
    )


def rewritten(upload: Upload, target: str) -> Upload:
    """A copy of a batch file whose lines name the deployment's upstream model (a line at a time)."""
    fd, path = tempfile.mkstemp(prefix="wardgate-batch-")
    try:
        with open(upload.path, "rb") as source, os.fdopen(fd, "wb") as out:
            for line in source:
                if not line.strip():
                    continue
                request = orjson.loads(line)
                request["body"]["model"] = target
                out.write(orjson.dumps(request) + b"\n")
        return Upload(upload.field, upload.filename, upload.content_type, path, os.path.getsize(path))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
