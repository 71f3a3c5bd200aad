"""What a surface needs to serve a request, built once per config by assemble.py and replaced whole on reload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from wardgate.core.deployment import Deployment
from wardgate.core.pipeline import Pipeline
from wardgate.core.principal import Principal


class Authenticate(Protocol):
    def __call__(
        self, credential: str | None, model: str | None = None, *, client_cert: str | None = None
    ) -> Awaitable[Principal]: ...


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything a request needs, built once from one config; replaced whole on reload."""

    pipeline: Pipeline
    authenticate: Authenticate
    model_names: tuple[str, ...]
    deployments: dict[str, tuple[Deployment, ...]]
    max_body_bytes: int
    max_upload_bytes: int = 64 * 1024 * 1024  # server.max_upload_bytes: multipart uploads, spooled to disk
    read_client_cert: Callable[[Mapping[str, Any]], str | None] | None = None  # identity.mtls: its header, if trusted
    prompts: bool = False  # the prompts stage is assembled: a request may name a managed prompt
    responses_model: str | None = None  # responses.default_model: a Responses request naming no model is routed on it
    files: object | None = None  # files.provider as a providers.files.FileHost (api/files.py); None: not configured
