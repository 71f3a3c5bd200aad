"""The OpenAI wire format: OpenAI itself, Azure OpenAI and every OpenAI-compatible preset.

The canonical request is already OpenAI-shaped, so translation is only the ``model`` swap: every other field,
known or not, reaches the provider unchanged, and its answer reaches the client byte for byte.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from wardgate.config.schema import BaseURL, TimeoutsConfig
from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.errors import UpstreamError, WardgateError
from wardgate.core.replay import chunks_of
from wardgate.core.usage import Usage
from wardgate.providers import realtime_calls, realtime_secrets, registry, responses_native
from wardgate.providers.files import FileHost
from wardgate.providers.framing.sse import SSEDataDecoder
from wardgate.providers.http import UpstreamHTTP, error_from_status, upstream_message
from wardgate.providers.media import open_media_events, open_speech, send_media
from wardgate.providers.presets import (
    AUDIO,
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    IMAGES,
    MODERATIONS,
    OPERATION_ORDER,
    PRESETS,
    RERANK,
    Preset,
)
from wardgate.providers.streaming import OnEnd, OnEvent, read_stream
from wardgate.providers.unstreamed import answered_whole, is_completion, not_an_answer, one_batch, read_answer

_PATHS = {
    CHAT: "/chat/completions",
    COMPLETIONS: "/completions",
    EMBEDDINGS: "/embeddings",
    MODERATIONS: "/moderations",
    RERANK: "/rerank",
    "transcriptions": "/audio/transcriptions",
    "translations": "/audio/translations",
    "speech": "/audio/speech",
    "images": "/images/generations",
    "image_edits": "/images/edits",
    "image_variations": "/images/variations",
    "videos": "/videos",
}
MEDIA = AUDIO | IMAGES | {"videos"}
_USAGE_MARKS = (b'"usage":{', b'"usage": {')


class OpenAIConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    base_url: BaseURL | None = None
    api_key: SecretStr | None = None
    organization: str | None = None
    project: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)  # extra static headers sent upstream
    timeouts: TimeoutsConfig = TimeoutsConfig()

    @model_validator(mode="after")
    def _preset_needs(self) -> OpenAIConfig:
        preset = PRESETS[self.type]
        if preset.base_url is None and self.base_url is None:
            raise ValueError(f"type {self.type} needs base_url (the server's OpenAI-compatible /v1 URL)")
        if preset.key_required and (self.api_key is None or not self.api_key.get_secret_value()):
            raise ValueError(f'type {self.type} needs api_key (e.g. api_key: "${{{self.type.upper()}_API_KEY}}")')
        return self


class AzureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    base_url: Annotated[BaseURL, Field(description="https://<resource>.openai.azure.com")]
    api_key: SecretStr
    api_version: str = "2024-10-21"
    headers: dict[str, str] = Field(default_factory=dict)
    timeouts: TimeoutsConfig = TimeoutsConfig()

    @field_validator("api_version", mode="before")
    @classmethod
    def _yaml_date(cls, value: object) -> object:
        # YAML reads an unquoted 2024-10-21 as a date; it means the version string
        return value.isoformat() if isinstance(value, date) else value


class OpenAIAdapter:
    """One configured provider of the OpenAI wire format. Holds no per-request state."""

    def __init__(
        self,
        name: str,
        type_: str,
        http: UpstreamHTTP,
        *,
        base_url: str,
        headers: dict[str, str],
        operations: frozenset[str],
        stream_usage: bool,
        secrets: tuple[str, ...],
        native_responses: bool = False,
    ) -> None:
        self.name = name
        self.type = type_
        self.http = http
        self.base_url = base_url
        self.headers = headers
        self.operations = operations
        self.stream_usage = stream_usage
        self.secrets = secrets
        self.native_responses = native_responses

    def supports(self, operation: str) -> bool:
        if operation in realtime_secrets.OPERATIONS or operation in realtime_calls.OPERATIONS:  # the Realtime API's
            return "realtime" in self.operations
        return operation in self.operations

    def url(self, call: Call) -> str:
        return self.base_url + _PATHS[call.operation]

    def responses_url(self) -> str:
        """Where this provider serves the Responses API (``native_responses``)."""
        return self.base_url + "/responses"

    def file_host(self) -> FileHost:
        """This provider as the holder of files and batches (``files.provider``)."""
        return FileHost(self.name, self.http, self.base_url, self.headers, self.error)

    def wire_body(self, call: Call) -> dict[str, Any]:
        assert call.deployment is not None
        body = dict(call.body)
        body["model"] = call.deployment.upstream_model
        if call.surface == "anthropic":
            strip_anthropic_hints(body)
        return body

    def realtime_url(self, upstream_model: str) -> str:
        """The provider's Realtime WebSocket for a model (``wss://…/v1/realtime?model=…``)."""
        base = "ws" + self.base_url[4:] if self.base_url.startswith("http") else self.base_url
        return f"{base}/realtime?model={quote(upstream_model, safe='')}"

    async def send(self, call: Call) -> Result:
        if call.realtime is not None:  # one Realtime response: admitted here, answered by its response.done
            call.usage = await call.realtime.run()
            return Result.of({"object": "realtime.response", "usage": call.usage.to_openai()})
        if call.operation in realtime_secrets.OPERATIONS:
            return await realtime_secrets.mint(call, self.http, self.name, self.base_url, self.headers, self.error)
        if call.operation in realtime_calls.OPERATIONS:
            return await realtime_calls.relay(call, self.http, self.name, self.base_url, self.headers, self.error)
        if call.operation == "batches":
            return await self.file_host().create_batch(call)
        if call.operation == "batch_output":
            return await self.file_host().meter_output(call)
        if responses_native.chosen(call, self.name, self.native_responses):
            url = self.responses_url()
            return await responses_native.send(call, self.http, self.name, url, self.headers, self.error)
        if call.operation in MEDIA:
            wire = self.wire_body(call)
            return await send_media(call, self.http, self.name, self.url(call), wire, self.headers, self.error)
        data, body = await self.http.exchange(
            call, self.name, self.url(call), orjson.dumps(self.wire_body(call)), self.headers, self.error
        )
        usage = body.get("usage") if isinstance(body, dict) else None
        if usage:
            call.usage = Usage.from_openai(usage)
        return Result(raw=data, _body=body)

    async def open_stream(self, call: Call) -> ChunkStream:
        assert call.deployment is not None
        if call.operation == "speech" and call.body.get("stream_format") != "sse":
            wire = self.wire_body(call)
            return await open_speech(call, self.http, self.name, self.url(call), wire, self.headers, self.error)
        if responses_native.chosen(call, self.name, self.native_responses):
            url = self.responses_url()
            return await responses_native.open_stream(call, self.http, self.name, url, self.headers, self.error)
        if call.operation in MEDIA:  # streamed transcriptions, images, speech as SSE
            wire = self.wire_body(call)
            return await open_media_events(call, self.http, self.name, self.url(call), wire, self.headers, self.error)
        body = self.wire_body(call)
        options = body.get("stream_options")
        client_wants_usage = bool(isinstance(options, dict) and options.get("include_usage"))
        inject = self.stream_usage and not client_wants_usage
        if inject:  # ask for usage so accounting sees it; the usage-only chunk is then kept from the client
            body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        response = await self.http.open(call, self.name, self.url(call), orjson.dumps(body), self.headers, self.error)
        if answered_whole(response):  # the provider ignored `stream: true`: its answer becomes the stream
            return await self._whole_as_stream(call, response, client_wants_usage)
        seen: list[bool] = []
        on_event = self._on_event(call, drop_usage_only=inject, seen=seen)
        return read_stream(call, self.name, response, SSEDataDecoder(), on_event, self._on_end(seen))

    async def _whole_as_stream(self, call: Call, response: aiohttp.ClientResponse, include_usage: bool) -> ChunkStream:
        answer = await read_answer(self.name, response, self.secrets)
        if not is_completion(answer, call.operation):
            raise not_an_answer(self.name)
        usage = answer.get("usage")
        if isinstance(usage, dict):
            call.usage = Usage.from_openai(usage)
        return one_batch(call, chunks_of(answer, call.operation, include_usage))

    def _on_end(self, seen: list[bool]) -> OnEnd:
        name = self.name

        def on_end(batch: list[Chunk]) -> None:
            if not seen:  # not even [DONE]: the body was not an event stream (an HTML page, plain text, nothing)
                raise UpstreamError(f"{name}: the provider answered a streamed request without an event stream.")

        return on_end

    def _on_event(self, call: Call, drop_usage_only: bool, seen: list[bool]) -> OnEvent[bytes]:
        """The chunk of one event (its data, as ``SSEDataDecoder`` hands it over): the provider's bytes as they came,
        parsed only when they carry the usage."""
        name = self.name

        def on_event(data: bytes, batch: list[Chunk]) -> None:
            if not seen:
                seen.append(True)
            if data == b"[DONE]" or not data:
                return
            if data.startswith(b'{"error"'):
                message, param, code = upstream_message(data)
                raise UpstreamError(f"{name}: {message}", param=param, code=code)
            if _USAGE_MARKS[0] in data or _USAGE_MARKS[1] in data:
                try:
                    obj = orjson.loads(data)
                except orjson.JSONDecodeError as exc:
                    raise UpstreamError(f"{name}: the provider sent an event that is not JSON.") from exc
                if isinstance(obj, dict) and isinstance(obj.get("usage"), dict):
                    usage = Usage.from_openai(obj["usage"])
                    call.usage = usage
                    if drop_usage_only and not obj.get("choices"):
                        return
                    batch.append(Chunk(obj, raw=data, usage=usage))
                    return
            batch.append(Chunk(raw=data))

        return on_event

    def error(self, response: aiohttp.ClientResponse, data: bytes) -> WardgateError:
        message, param, code = upstream_message(data)
        return error_from_status(
            self.name,
            response.status,
            message,
            response.headers,
            param=param,
            code=code,
            secrets=self.secrets,
        )


def strip_anthropic_hints(body: dict[str, Any]) -> None:
    """Remove what the Anthropic surface carries for an Anthropic upstream and OpenAI rejects as unknown
    (``cache_control``, signed ``thinking_blocks``); a tool result's ``is_error`` becomes words the model reads.

    Only for calls that came in through /v1/messages: an OpenAI client sending ``cache_control`` on purpose (e.g. to
    OpenRouter, which honours it) is passed through untouched. Copies what it changes; the caller's body is shared.
    """
    body.pop("cache_control", None)
    if isinstance(body.get("tools"), list):
        body["tools"] = [_without(t, "cache_control") for t in body["tools"]]
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    out = []
    for message in messages:
        if not isinstance(message, dict):
            out.append(message)
            continue
        message = (
            _without(message, "cache_control", "thinking_blocks", "is_error")
            if ("cache_control" in message or "thinking_blocks" in message or "is_error" in message)
            else message
        )
        if message is not None and message.get("role") == "tool" and _original_is_error(messages, message):
            message = {**message, "content": _error_text(message.get("content"))}
        content = message.get("content")
        if isinstance(content, list) and any(isinstance(p, dict) and "cache_control" in p for p in content):
            message = {**message, "content": [_without(p, "cache_control") for p in content]}
        out.append(message)
    body["messages"] = out


def _without(obj: Any, *keys: str) -> Any:
    if isinstance(obj, dict) and any(k in obj for k in keys):
        return {k: v for k, v in obj.items() if k not in keys}
    return obj


def _original_is_error(messages: list[Any], stripped: dict[str, Any]) -> bool:
    return any(
        isinstance(m, dict) and m.get("is_error") and m.get("tool_call_id") == stripped.get("tool_call_id")
        for m in messages
    )


def _error_text(content: Any) -> Any:
    if isinstance(content, str):
        return f"Error: {content}"
    if isinstance(content, list):
        return [{"type": "text", "text": "Error:"}, *content]
    return "Error"


class AzureAdapter(OpenAIAdapter):
    """Azure OpenAI: the deployment is in the URL (the deployment's ``model`` is the Azure deployment name)."""

    def __init__(self, name: str, http: UpstreamHTTP, config: AzureConfig) -> None:
        key = config.api_key.get_secret_value()
        super().__init__(
            name,
            "azure",
            http,
            base_url=config.base_url,
            headers={"api-key": key, "content-type": "application/json", **config.headers},
            operations=frozenset({CHAT, COMPLETIONS, EMBEDDINGS}) | AUDIO | IMAGES,
            stream_usage=True,
            secrets=(key,),
            native_responses=True,
        )
        self.api_version = config.api_version

    def responses_url(self) -> str:
        """Azure's v1 API (no api-version): the deployment is named in the body's ``model``."""
        return f"{self.base_url}/openai/v1/responses"

    def url(self, call: Call) -> str:
        assert call.deployment is not None
        return (
            f"{self.base_url}/openai/deployments/{call.deployment.upstream_model}{_PATHS[call.operation]}"
            f"?api-version={self.api_version}"
        )


def _openai_factory(preset: Preset) -> registry.AdapterFactory:
    def build(name: str, config: OpenAIConfig, http: UpstreamHTTP) -> OpenAIAdapter:
        key = config.api_key.get_secret_value() if config.api_key else ""
        headers = {"content-type": "application/json"}
        if key:
            if preset.key_header == "authorization":
                headers["authorization"] = f"Bearer {key}"
            else:
                headers[preset.key_header] = key
        if config.organization:
            headers["openai-organization"] = config.organization
        if config.project:
            headers["openai-project"] = config.project
        headers.update(config.headers)
        base_url = config.base_url or preset.base_url
        assert base_url is not None
        return OpenAIAdapter(
            name,
            preset.type,
            http,
            base_url=base_url,
            headers=headers,
            operations=preset.operations,
            stream_usage=preset.stream_usage,
            secrets=(key,) if key else (),
            native_responses=preset.native_responses,
        )

    return build


for _preset in PRESETS.values():
    registry.add(
        _preset.type,
        OpenAIConfig,
        _openai_factory(_preset),
        _preset.label,
        wire="openai",
        operations=tuple(op for op in OPERATION_ORDER if op in _preset.operations),
    )

registry.add(
    "azure",
    AzureConfig,
    lambda name, config, http: AzureAdapter(name, http, config),
    "Azure OpenAI",
    wire="openai (Azure deployment URLs)",
    operations=(CHAT, COMPLETIONS, EMBEDDINGS, *sorted(AUDIO), *sorted(IMAGES)),
)
