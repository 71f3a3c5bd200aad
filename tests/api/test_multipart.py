"""The multipart reader against hostile forms: every bound is a clean 4xx, and no temporary file is left behind."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wardgate.api.asgi import Disconnected
from wardgate.api.multipart import MAX_FIELD_BYTES, MAX_PARTS, boundary_of, read_form
from wardgate.core.errors import InvalidRequest, PayloadTooLarge

BOUNDARY = b"wardgate-test-boundary"


def part(name: str, data: bytes, filename: str | None = None, extra: bytes = b"") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return (
        b"--"
        + BOUNDARY
        + b"\r\nContent-Disposition: "
        + disposition.encode()
        + b"\r\n"
        + extra
        + b"\r\n"
        + data
        + b"\r\n"
    )


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


def receiver(body: bytes, chunk: int = 1000, disconnect: bool = False) -> Any:
    pieces: Iterator[bytes] = iter([body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""])
    pending = list(pieces)

    async def receive() -> dict[str, Any]:
        if disconnect and len(pending) == 1:
            return {"type": "http.disconnect"}
        data = pending.pop(0)
        return {"type": "http.request", "body": data, "more_body": bool(pending)}

    return receive


@pytest.fixture(autouse=True)
def no_leftovers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Spooled files go to a folder of this test's own (another test process may be spooling to the system's
    temporary folder at the same moment), which holds none of them afterwards."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield
    assert glob.glob(os.path.join(tmp_path, "wardgate-upload-*")) == []


async def test_fields_and_files_are_read_and_files_spooled_to_disk() -> None:
    audio = os.urandom(3 * 1024 * 1024)  # past the 1 MiB flush: written in pieces
    body = form(
        part("model", b"whisper-1"),
        part("include[]", b"logprobs"),
        part("file", audio, "../../etc/passwd", b"Content-Type: audio/wav\r\n"),
    )
    result = await read_form(receiver(body, 65536), BOUNDARY, len(body), len(body))
    try:
        assert result.values() == {"model": "whisper-1", "include": ["logprobs"]}
        (upload,) = result.uploads
        assert (upload.field, upload.filename, upload.content_type, upload.size) == ("file", "passwd", "audio/wav",
                                                                                     len(audio))  # fmt: skip
        with open(upload.path, "rb") as f:  # noqa: ASYNC230 - a test reading back what was spooled
            assert f.read() == audio
    finally:
        result.close()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (form(*[part(f"f{n}", b"x") for n in range(MAX_PARTS + 1)]), InvalidRequest),
        (form(part("model", b"x" * (MAX_FIELD_BYTES + 1))), InvalidRequest),
        (form(part("file", b"x", "a.wav", b"X-Long: " + b"y" * 10_000 + b"\r\n")), InvalidRequest),
        (part("file", b"x" * 5000, "a.wav"), InvalidRequest),  # no closing boundary
        (b"not a form at all", InvalidRequest),
        (form(part("model\x00x", b"gpt")), InvalidRequest),  # a control character in a field name (schemathesis)
        (form(part("a\x1bb", b"x")), InvalidRequest),
        (form(part("file\x07", b"x", "a.wav")), InvalidRequest),
    ],
)
async def test_hostile_forms_are_refused(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        await read_form(receiver(body), BOUNDARY, 10_000_000, None)


async def test_an_oversize_upload_is_refused_as_soon_as_it_passes_the_limit() -> None:
    body = form(part("file", b"x" * 50_000, "a.wav"))
    with pytest.raises(PayloadTooLarge):
        await read_form(receiver(body), BOUNDARY, 20_000, None)
    with pytest.raises(PayloadTooLarge):  # a declared length over the limit: refused before reading
        await read_form(receiver(body), BOUNDARY, 20_000, len(body))


async def test_a_client_that_leaves_mid_upload_leaves_no_file() -> None:
    body = form(part("file", os.urandom(2_500_000), "a.wav"))
    with pytest.raises(Disconnected):
        await read_form(receiver(body, 1_200_000, disconnect=True), BOUNDARY, 10_000_000, None)


def test_only_multipart_form_data_has_a_boundary() -> None:
    assert boundary_of("multipart/form-data; boundary=abc") == b"abc"
    assert boundary_of("application/json") is None
    assert boundary_of("multipart/form-data") is None
    assert boundary_of(None) is None
