"""A ``multipart/form-data`` request body, parsed as it streams in (python-multipart): text fields kept, bounded;
files spooled to temporary files in a thread, a megabyte at a time, so a large upload never sits in memory.

Bounds: the whole body at most ``limit`` bytes (``server.max_upload_bytes``: a 413 as soon as it is passed), at
most ``MAX_PARTS`` parts, a text field at most ``MAX_FIELD_BYTES``, a part's header line at most ``MAX_HEADER_BYTES``.
A body that is not a well-formed form is a 400.
Whatever goes wrong, the temporary files are removed (``Form.close``; the surface calls it when the request ends).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from wardgate.api.asgi import Disconnected, Receive
from wardgate.core.errors import InvalidRequest, PayloadTooLarge
from wardgate.core.upload import Upload

MAX_PARTS = 64
MAX_FIELD_BYTES = 64 * 1024
MAX_HEADER_BYTES = 8 * 1024  # one header line of one part
_FLUSH_BYTES = 1024 * 1024
_MAX_NAME = 255


@dataclass(slots=True)
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str = "application/octet-stream"
    buffer: bytearray = field(default_factory=bytearray)
    file: IO[bytes] | None = None
    path: str = ""
    size: int = 0


@dataclass(slots=True)
class Form:
    fields: list[tuple[str, str]] = field(default_factory=list)  # in order; a name may repeat (``include[]``)
    uploads: list[Upload] = field(default_factory=list)

    def values(self) -> dict[str, Any]:
        """The text fields as a JSON object: a repeated name (or one ending in ``[]``) becomes a list."""
        out: dict[str, Any] = {}
        for name, value in self.fields:
            key = name.removesuffix("[]")
            if name.endswith("[]") or key in out:
                previous = out.get(key)
                out[key] = [
                    *(previous if isinstance(previous, list) else [] if previous is None else [previous]),
                    value,
                ]
            else:
                out[key] = value
        return out

    def close(self) -> None:
        for upload in self.uploads:
            upload.remove()


def boundary_of(content_type: str | None) -> bytes | None:
    if not content_type:
        return None
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    boundary = options.get(b"boundary")
    return boundary or None


class _Reader:
    def __init__(self, limit: int) -> None:
        self.form = Form()
        self.limit = limit
        self.part: _Part | None = None
        self.parts: list[_Part] = []
        self.header_name = b""
        self.header_value = b""
        self.error: Exception | None = None

    def callbacks(self) -> Any:  # python-multipart's MultipartCallbacks (a TypedDict)
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._header_field(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value(data[start:end]),
            "on_header_end": self._header_end,
            "on_part_data": lambda data, start, end: self._data(data[start:end]),
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            raise InvalidRequest(f"The form has more than {MAX_PARTS} parts.", param="file")
        self.part = _Part()
        self.parts.append(self.part)
        self.header_name = self.header_value = b""

    def _header_field(self, data: bytes) -> None:
        self.header_name += data
        self._bounded()

    def _header_value(self, data: bytes) -> None:
        self.header_value += data
        self._bounded()

    def _bounded(self) -> None:
        if len(self.header_name) + len(self.header_value) > MAX_HEADER_BYTES:
            raise InvalidRequest(f"A header of the form is larger than {MAX_HEADER_BYTES} bytes.")

    def _header_end(self) -> None:
        assert self.part is not None
        name, value = self.header_name.lower(), self.header_value
        self.header_name = self.header_value = b""
        if name == b"content-disposition":
            _, options = parse_options_header(value)
            field_name = options.get(b"name", b"").decode("utf-8", "replace")[:_MAX_NAME]
            if not field_name.isprintable() or "\ufffd" in field_name:  # control characters, or not UTF-8
                raise InvalidRequest(
                    "A form field's name must be printable UTF-8 text (it is sent on to the provider as is)."
                )
            self.part.name = field_name
            filename = options.get(b"filename")
            if filename is not None:
                text = filename.decode("utf-8", "replace")
                self.part.filename = "".join(c for c in os.path.basename(text) if c.isprintable())[:_MAX_NAME] or "file"
        elif name == b"content-type":
            self.part.content_type = value.decode("latin-1")[:_MAX_NAME]

    def _data(self, data: bytes) -> None:
        part = self.part
        assert part is not None
        part.size += len(data)
        if part.filename is None and part.size > MAX_FIELD_BYTES:
            raise InvalidRequest(
                f"The form field '{part.name}' is larger than {MAX_FIELD_BYTES} bytes.", param=part.name
            )
        part.buffer += data

    def _end(self) -> None:
        part = self.part
        assert part is not None
        if part.filename is None:
            self.form.fields.append((part.name, part.buffer.decode("utf-8", "replace")))
            part.buffer.clear()

    async def flush(self, final: bool = False) -> None:
        """Move the buffered bytes of file parts to their temporary files (in a thread: disk writes block)."""
        for part in self.parts:
            if part.filename is None or (not final and len(part.buffer) < _FLUSH_BYTES):
                continue
            if part.file is None:
                part.file = await asyncio.to_thread(_new_file)
                part.path = part.file.name
            if part.buffer:
                data = bytes(part.buffer)
                part.buffer.clear()
                await asyncio.to_thread(part.file.write, data)
            if final:
                await asyncio.to_thread(part.file.close)
                self.form.uploads.append(Upload(part.name, part.filename, part.content_type, part.path, part.size))

    def discard(self) -> None:
        for part in self.parts:
            if part.file is not None:
                part.file.close()
                Upload(part.name, "", "", part.path, 0).remove()
        self.form.close()


def _new_file() -> IO[bytes]:
    return tempfile.NamedTemporaryFile(prefix="wardgate-upload-", delete=False)  # noqa: SIM115 - closed by flush


async def read_form(receive: Receive, boundary: bytes, limit: int, content_length: int | None) -> Form:
    """The whole form, its files on disk; raises ``Disconnected`` if the client leaves, a 400 or 413 otherwise."""
    if content_length is not None and content_length > limit:
        raise PayloadTooLarge(f"The upload is {content_length} bytes; this gateway accepts at most {limit}.")
    reader = _Reader(limit)
    parser = MultipartParser(boundary, reader.callbacks())
    size = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The upload is larger than {limit} bytes, the most this gateway accepts.")
            if chunk:
                try:
                    parser.write(chunk)
                except MultipartParseError:
                    raise InvalidRequest("The request body is not a well-formed multipart form.") from None
                await reader.flush()
            if not message.get("more_body"):
                break
        parser.finalize()
        if parser.state != MultipartState.END:  # cut short: the closing boundary never came
            raise InvalidRequest("The request body is not a well-formed multipart form.")
        await reader.flush(final=True)
    except BaseException:
        reader.discard()
        raise
    return reader.form
