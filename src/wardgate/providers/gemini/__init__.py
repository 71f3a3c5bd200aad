"""Google's Gemini models: ``type: gemini`` (Google AI Studio, an API key) and ``type: vertex`` (Vertex AI, Google
credentials through google-auth: ``wardgate[vertex]``). One wire format (``generateContent``), translated in
``translate.py``/``stream.py``/``embeddings.py``; the adapters in ``adapter.py`` differ only in URLs and
authentication; ``credentials.py`` (google-auth) is imported only when a Vertex provider is built."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, FilePath, SecretStr, field_validator, model_validator

from wardgate.config.schema import BaseURL, TimeoutsConfig
from wardgate.core.deployment import Timeouts
from wardgate.providers import registry

if TYPE_CHECKING:
    from wardgate.providers.gemini.adapter import GeminiAdapter, VertexAdapter
    from wardgate.providers.http import UpstreamHTTP

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")  # project ids and locations go into the URL path


class GeminiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    api_key: SecretStr
    base_url: BaseURL = GEMINI_BASE_URL
    timeouts: TimeoutsConfig = TimeoutsConfig()

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError('must not be empty (e.g. api_key: "${GEMINI_API_KEY}")')
        return value


class VertexConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    project: str
    location: str = "us-central1"
    # a service-account JSON key, read once when the gateway starts; absent: Application Default Credentials
    credentials_file: FilePath | None = None
    base_url: BaseURL | None = None  # default: https://{location}-aiplatform.googleapis.com/v1
    timeouts: TimeoutsConfig = TimeoutsConfig()

    @field_validator("project", "location")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("must be lower-case letters, digits and dashes (e.g. my-project, us-central1)")
        return value

    @model_validator(mode="after")
    def _google_auth_installed(self) -> VertexConfig:
        registry.require_extra("vertex", "google.auth", "google-auth", "vertex")
        registry.require_extra("vertex", "requests", "requests", "vertex")  # google-auth's HTTP transport
        return self

    def endpoint(self) -> str:
        if self.base_url:
            return self.base_url
        if self.location == "global":
            return "https://aiplatform.googleapis.com/v1"
        return f"https://{self.location}-aiplatform.googleapis.com/v1"


def _timeouts(config: TimeoutsConfig) -> Timeouts:
    return Timeouts(connect=config.connect, first_byte=config.first_byte, total=config.total)


def build_gemini(name: str, config: GeminiConfig, http: UpstreamHTTP) -> GeminiAdapter:
    from wardgate.providers.gemini.adapter import GeminiAdapter  # imported by the first Gemini provider built

    return GeminiAdapter(name, http, config.base_url, config.api_key.get_secret_value())


def build_vertex(name: str, config: VertexConfig, http: UpstreamHTTP) -> VertexAdapter:
    with registry.imports_of_extra(name, "vertex", "google-auth", "vertex", roots=("google", "requests")):
        from wardgate.providers.gemini.credentials import AccessTokens, load_credentials

    from wardgate.providers.gemini.adapter import VertexAdapter

    tokens = AccessTokens(load_credentials(config.credentials_file), name, _timeouts(config.timeouts))
    return VertexAdapter(name, http, config.endpoint(), project=config.project, location=config.location, tokens=tokens)


registry.add(
    "gemini",
    GeminiConfig,
    build_gemini,
    "Google Gemini API (AI Studio, API key)",
    operations=("chat", "embeddings", "images"),
)
registry.add(
    "vertex",
    VertexConfig,
    build_vertex,
    "Google Vertex AI Gemini (google-auth: wardgate[vertex])",
    operations=("chat", "embeddings", "images"),
)
