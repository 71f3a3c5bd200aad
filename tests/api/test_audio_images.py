"""Audio and images end to end: the official ``openai`` SDK → Wardgate → the OpenAI fake's audio and image endpoints.

Checked: the answer (against OpenAI's schema where it is JSON, byte for byte where it is audio or text), the form or
body the provider received (every field and the file's bytes), the ledger row's units (seconds, characters, images
of a size and quality, tokens) and cost against the catalog, budgets, bad input in OpenAI's shape, and an upstream
that drops the connection mid-upload (a clean 502 and nothing billed).
"""

from __future__ import annotations

import asyncio
import glob
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.fakes.openai_media import PNG, parse_form
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.core.usage import Usage
from wardgate.store.usage import by_request_id
from wardgate.usage.pricing import cost, load_catalog, to_nanousd

KEY = "sk-fake-upstream-media"
AUDIO = bytes(range(256)) * 125  # 32,000 bytes: two seconds of the fake's audio


class DroppingServer:
    """Accepts a connection, reads a little of the request, and closes it: an upstream that cuts an upload."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.accepted = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.recv(4096)
            self.accepted.set()
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY).start() as f:
        yield f


@pytest.fixture(scope="module")
def dropping() -> Iterator[DroppingServer]:
    server = DroppingServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI, dropping: DroppingServer) -> Iterator[RunningGateway]:
    config = f"""
server: {{max_upload_bytes: 1000000}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {KEY}}}
  cutter: {{type: openai, base_url: "{dropping.url}", api_key: {KEY}}}
  chat-only: {{type: perplexity, base_url: "{fake.url}", api_key: {KEY}}}
models:
  whisper: [{{provider: up, model: whisper-1}}]
  transcribe: [{{provider: up, model: gpt-4o-transcribe}}]
  tts: [{{provider: up, model: tts-1}}]
  dall-e-3: [{{provider: up, model: dall-e-3}}]
  dall-e-2: [{{provider: up, model: dall-e-2}}]
  image: [{{provider: up, model: gpt-image-1}}]
  cut: [{{provider: cutter, model: whisper-1}}]
  sonar: [{{provider: chat-only, model: sonar}}]
budgets:
  - {{name: speech, scope: project, match: talkers, window: day, limit_usd: 0.0004, cap: hard}}
"""
    with gateway_from_yaml(config) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def ledger_row(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, request_id))
    assert row is not None
    return row


def price(model: str) -> Any:
    found = load_catalog().lookup("openai", model)
    assert found is not None
    return found


def sent_form(fake: FakeOpenAI) -> tuple[dict[str, Any], dict[str, tuple[str, str, bytes]]]:
    request = fake.requests[-1]
    return parse_form(request.body, request.headers["content-type"])


def test_a_whisper_transcription_is_metered_by_the_second(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper", file=("talk.wav", AUDIO, "audio/wav"), language="en", temperature=0
    )
    validate("CreateTranscriptionResponseJson", raw.http_response.json())
    assert raw.parse().text == "transcript of talk.wav (32000 bytes)"
    fields, files = sent_form(fake)
    assert fields == {"model": "whisper-1", "language": "en", "temperature": "0"}
    assert files == {"file": ("talk.wav", "audio/wav", AUDIO)}
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    assert (row["operation"], row["status"], row["details"]["audio_seconds"]) == ("transcriptions", 200, 2.0)
    assert row["cost_nanousd"] == to_nanousd(Decimal(2) * Decimal("0.006") / 60) > 0


def test_a_token_billed_transcription_and_the_text_formats(gateway: RunningGateway, client: openai.OpenAI) -> None:
    raw = client.audio.transcriptions.with_raw_response.create(model="transcribe", file=("a.mp3", AUDIO[:5000]))
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    assert (row["input_tokens"], row["output_tokens"]) == (50, 5)  # 5,000 bytes // 100; five words
    assert row["cost_nanousd"] == to_nanousd(cost(Usage(50, 5), price("gpt-4o-transcribe")))
    for fmt in ("text", "srt", "vtt"):
        text = client.audio.transcriptions.create(model="whisper", file=("a.mp3", AUDIO[:1600]), response_format=fmt)
        assert text.strip() == "transcript of a.mp3 (1600 bytes)"
    verbose = client.audio.transcriptions.with_raw_response.create(
        model="whisper", file=("a.mp3", AUDIO[:1600]), response_format="verbose_json"
    )
    validate("CreateTranscriptionResponseVerboseJson", verbose.http_response.json())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks translations deprecated; OpenAI serves them
def test_a_translation_is_relayed(gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI) -> None:
    raw = client.audio.translations.with_raw_response.create(model="whisper", file=("fr.wav", AUDIO[:800]))
    validate("CreateTranslationResponseJson", raw.http_response.json())
    assert raw.parse().text == "translation of fr.wav (800 bytes)"
    assert fake.requests[-1].path == "/v1/audio/translations"
    assert ledger_row(gateway, raw.headers["x-wardgate-request-id"])["operation"] == "translations"


def test_speech_is_relayed_as_audio_and_billed_by_the_character(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    raw = client.audio.speech.with_raw_response.create(model="tts", voice="alloy", input="hello world", speed=1.5)
    assert raw.http_response.content == b"FAKEAUDIO:hello world"
    assert raw.headers["content-type"] == "audio/mpeg"
    assert fake.requests[-1].json == {"model": "tts-1", "voice": "alloy", "input": "hello world", "speed": 1.5}
    wav = client.audio.speech.create(model="tts", voice="alloy", input="x", response_format="wav")
    assert wav.response.headers["content-type"] == "audio/wav"
    with client.audio.speech.with_streaming_response.create(model="tts", voice="alloy", input="é" * 4000) as streamed:
        assert b"".join(streamed.iter_bytes(1000)) == b"FAKEAUDIO:" + ("é" * 4000).encode()
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    assert (row["operation"], row["details"]["characters"], row["stream"]) == ("speech", 11, True)
    assert row["cost_nanousd"] == to_nanousd(Decimal(11) * Decimal(15) / 1_000_000)


def test_images_are_billed_by_count_size_and_quality(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    raw = client.images.with_raw_response.generate(model="dall-e-3", prompt="a red fox", n=2, size="1024x1792",
                                                   quality="hd")  # fmt: skip
    validate("ImagesResponse", raw.http_response.json())
    assert len(raw.parse().data or []) == 2
    assert fake.requests[-1].json == {"model": "dall-e-3", "prompt": "a red fox", "n": 2, "size": "1024x1792",
                                      "quality": "hd"}  # fmt: skip
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    assert (row["operation"], row["details"]["images"], row["details"]["image_kind"]) == ("images", 2, "1024x1792/hd")
    assert row["cost_nanousd"] == to_nanousd(2 * Decimal("0.120"))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks variations deprecated; OpenAI serves them
def test_an_image_edit_uploads_the_files_and_is_billed_by_its_tokens(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    raw = client.images.with_raw_response.edit(
        model="image", image=("in.png", PNG, "image/png"), mask=("mask.png", PNG, "image/png"), prompt="add a hat"
    )
    validate("ImagesResponse", raw.http_response.json())
    fields, files = sent_form(fake)
    assert fields == {"model": "gpt-image-1", "prompt": "add a hat"}
    assert files == {"image": ("in.png", "image/png", PNG), "mask": ("mask.png", "image/png", PNG)}
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    # the fake: 3 prompt words + 100 tokens an uploaded image (the mask is not one), 1,000 output tokens an image
    assert (row["input_tokens"], row["output_tokens"], row["details"]["images"]) == (103, 1000, 1)
    assert row["cost_nanousd"] == to_nanousd(cost(Usage(103, 1000), price("gpt-image-1")))
    variation = client.images.with_raw_response.create_variation(model="dall-e-2", image=("in.png", PNG), n=1)
    validate("ImagesResponse", variation.http_response.json())
    assert ledger_row(gateway, variation.headers["x-wardgate-request-id"])["cost_nanousd"] == to_nanousd(
        Decimal("0.020")
    )


def test_a_budget_caps_speech(gateway: RunningGateway) -> None:
    async def key() -> str:
        project = await gateway.worker.tenancy.create_project("talkers")
        return (await gateway.worker.keys.create(project.id))[0]

    with openai.OpenAI(base_url=gateway.url, api_key=gateway.run(key()), max_retries=0) as talker:
        words = "x" * 10  # $0.00015 each at $15 per 1M characters
        talker.audio.speech.create(model="tts", voice="alloy", input=words)
        talker.audio.speech.create(model="tts", voice="alloy", input=words)
        talker.audio.speech.create(model="tts", voice="alloy", input=words)  # $0.00045 spent of $0.0004
        with pytest.raises(openai.RateLimitError) as caught:
            talker.audio.speech.create(model="tts", voice="alloy", input=words)
    assert caught.value.response.json()["error"]["code"] == "budget_exceeded"


def _post(gateway: RunningGateway, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(gateway.url + path, headers={"authorization": f"Bearer {MASTER_KEY}"}, **kwargs)


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "param"),
    [
        ("/audio/transcriptions", {"json": {"model": "whisper", "file": "x"}}, 400, "file"),
        ("/audio/transcriptions", {"data": {"model": "whisper"}, "files": {"other": ("a", b"x")}}, 400, "file"),
        (
            "/audio/transcriptions",
            {"data": {"model": "whisper", "response_format": "mp4"}, "files": {"file": ("a.wav", b"x")}},
            400,
            "response_format",
        ),  # fmt: skip
        (
            "/audio/transcriptions",
            {"data": {"model": "whisper"}, "files": {"file": ("a.wav", b"x" * 1_000_001)}},
            413,
            None,
        ),  # fmt: skip
        ("/audio/transcriptions", {"data": {"model": "sonar"}, "files": {"file": ("a.wav", b"x")}}, 400, "model"),
        ("/audio/transcriptions", {"data": {}, "files": {"file": ("a.wav", b"x")}}, 400, "model"),
        ("/audio/speech", {"json": {"model": "tts", "voice": "alloy"}}, 400, "input"),
        ("/audio/speech", {"json": {"model": "tts", "input": "x"}}, 400, "voice"),
        (
            "/audio/speech",
            {"json": {"model": "tts", "input": "x", "voice": "a", "stream_format": "bogus"}},
            400,
            "stream_format",
        ),  # fmt: skip
        ("/images/generations", {"json": {"model": "dall-e-3"}}, 400, "prompt"),
        (
            "/images/generations",
            {"json": {"model": "dall-e-3", "prompt": "x", "response_format": "gif"}},
            400,
            "response_format",
        ),  # fmt: skip
        (  # a JSON value where a string belongs (found by schemathesis: it was a 500)
            "/images/generations",
            {"json": {"model": "dall-e-3", "prompt": "x", "response_format": {"a": 1}}},
            400,
            "response_format",
        ),  # fmt: skip
        (
            "/audio/speech",
            {"json": {"model": "tts", "input": "x", "voice": "a", "response_format": ["mp3"]}},
            400,
            "response_format",
        ),  # fmt: skip
        (
            "/images/edits",
            {"data": {"model": "image", "prompt": "x"}, "files": {"mask": ("m.png", PNG)}},
            400,
            "image",
        ),  # fmt: skip
        (
            "/images/variations",
            {"content": b"--b\r\nbroken", "headers2": "multipart/form-data; boundary=b"},
            400,
            None,
        ),  # fmt: skip
    ],
)
def test_bad_media_requests_get_openai_errors(
    gateway: RunningGateway, path: str, kwargs: dict[str, Any], status: int, param: str | None
) -> None:
    content_type = kwargs.pop("headers2", None)
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    if content_type:
        headers["content-type"] = content_type
    answer = httpx.post(gateway.url + path, headers=headers, **kwargs)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and set(error) == {"message", "type", "param", "code"}


def test_an_upstream_that_cuts_the_upload_is_a_clean_502_and_nothing_is_billed(
    gateway: RunningGateway, client: openai.OpenAI, dropping: DroppingServer
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.transcriptions.with_raw_response.create(model="cut", file=("big.wav", AUDIO * 25))
    assert caught.value.status_code == 502 and dropping.accepted.is_set()
    row = ledger_row(gateway, caught.value.response.headers["x-wardgate-request-id"])
    assert (row["status"], row["billable"], row["input_tokens"], row["cost_nanousd"]) == (502, False, 0, 0)


def test_uploads_are_removed_when_the_request_ends(gateway: RunningGateway, client: openai.OpenAI) -> None:
    pattern = os.path.join(tempfile.gettempdir(), "wardgate-upload-*")
    before = set(glob.glob(pattern))
    client.audio.transcriptions.create(model="whisper", file=("a.wav", AUDIO))
    with pytest.raises(openai.APIStatusError):
        client.audio.transcriptions.create(model="cut", file=("big.wav", AUDIO * 25))
    assert set(glob.glob(pattern)) <= before


async def test_an_async_client_gets_the_same(gateway: RunningGateway) -> None:
    async with openai.AsyncOpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as client:
        texts = await asyncio.gather(
            *(client.audio.transcriptions.create(model="whisper", file=(f"{n}.wav", AUDIO[:160])) for n in range(3))
        )
    assert sorted(t.text for t in texts) == [f"transcript of {n}.wav (160 bytes)" for n in range(3)]


def test_streamed_transcripts_speech_and_images_are_relayed_as_events_and_metered(
    client: openai.OpenAI, gateway: RunningGateway
) -> None:
    raw = client.audio.transcriptions.with_raw_response.create(model="transcribe", file=("a.wav", AUDIO), stream=True)
    events = [event.type for event in raw.parse()]
    assert events[-1] == "transcript.text.done" and events.count("transcript.text.delta") == 5
    row = ledger_row(gateway, raw.headers["x-request-id"])
    assert (row["input_tokens"], row["output_tokens"], row["stream"]) == (len(AUDIO) // 100, 5, True)

    sse = {"model": "tts", "voice": "alloy", "input": "two words", "stream_format": "sse"}
    answer = httpx.post(gateway.url + "/audio/speech", headers={"authorization": f"Bearer {MASTER_KEY}"}, json=sse)
    assert answer.headers["content-type"] == "text/event-stream"
    kinds = [orjson.loads(line[6:])["type"] for line in answer.text.splitlines() if line.startswith("data: ")]
    assert kinds == ["speech.audio.delta", "speech.audio.done"]
    row = ledger_row(gateway, answer.headers["x-request-id"])
    assert (row["details"]["characters"], row["input_tokens"], row["output_tokens"]) == (9, 2, 9)

    raw_images = client.images.with_raw_response.generate(model="image", prompt="a red fox", n=2, stream=True,
                                                          partial_images=1)  # fmt: skip
    image_events = [event.type for event in raw_images.parse()]
    assert image_events == ["image_generation.partial_image"] + ["image_generation.completed"] * 2
    row = ledger_row(gateway, raw_images.headers["x-request-id"])
    assert (row["details"]["images"], row["input_tokens"], row["output_tokens"]) == (2, 3, 2000)
