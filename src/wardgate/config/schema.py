"""The config schema. Every model forbids unknown keys and is frozen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from wardgate.config.cache import CacheConfig, ModelCacheConfig
from wardgate.config.guards import GuardConfig, GuardsStreamConfig
from wardgate.config.identity import IdentityConfig
from wardgate.config.limits import BudgetConfig, LimitsConfig, RateLimitConfig
from wardgate.config.mcp import MCPConfig, ToolPolicyConfig
from wardgate.config.prompts import PromptsConfig
from wardgate.config.routing import (
    DEFAULT_FALLBACK_ON,
    BackoffConfig,
    BreakerConfig,
    CanaryRollbackConfig,
    ClassifierConfig,
    FailureKind,
    RoutingConfig,
    Strategy,
)
from wardgate.config.telemetry import AlertConfig, TelemetryConfig
from wardgate.usage.pricing import PriceConfig


def _base_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


BaseURL = Annotated[str, AfterValidator(_base_url)]
"""A provider's base URL: http(s), kept without a trailing slash (adapters append paths)."""


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeoutsConfig(Frozen):
    """Seconds. ``first_byte`` bounds the wait for the response headers and every gap between two stream reads."""

    connect: Annotated[float, Field(gt=0)] = 10.0
    first_byte: Annotated[float, Field(gt=0)] = 120.0
    total: Annotated[float, Field(gt=0)] = 600.0


class ServerConfig(Frozen):
    """The HTTP server of every worker. Defaults and their reasons: docs/configuration.md#server."""

    max_body_bytes: Annotated[int, Field(gt=0)] = 32 * 1024 * 1024
    # multipart uploads (audio, images): spooled to disk as they arrive, so this may exceed max_body_bytes
    max_upload_bytes: Annotated[int, Field(gt=0)] = 64 * 1024 * 1024
    max_connections: Annotated[int, Field(ge=16, le=1_000_000)] = 10_000  # per worker; also kept under the fd limit
    header_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0  # a request's line and headers, from first byte
    keep_alive_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 75.0  # an idle connection between two requests
    max_header_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = 64 * 1024  # request line and headers
    max_headers: Annotated[int, Field(ge=8, le=10_000)] = 100
    # SIGTERM: in-flight requests and streams get this long to finish; past it they end with server_shutting_down
    drain_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    access_log: bool = False  # one line per request: method, path, status, duration, ids; never content
    # read the configured models' tokenizer vocabularies at worker start, in a thread (cl100k ~35 MiB, o200k ~75 MiB
    # a worker); false: on the first exact count, which then blocks that worker's event loop once for 0.5-1 s
    preload_tokenizers: bool = False
    # every this many seconds a worker hands the memory it freed back to the system (glibc's malloc_trim, in a
    # thread); 0: never. Without it RSS creeps up as the heaps fragment (docs/configuration.md#server)
    memory_trim_s: Annotated[float, Field(ge=0, le=3600)] = 60.0


class ReloadConfig(Frozen):
    """Hot deploy (docs/hot-deploy.md): how often a worker looks for a new config."""

    poll_s: Annotated[float, Field(gt=0, le=60)] = 1.0  # `wardgate serve --watch`: the config file's poll
    # the store's newest `wardgate config apply` version is re-read this often even when no announcement arrives
    resync_s: Annotated[float, Field(ge=1, le=3600)] = 30.0


class CatalogConfig(Frozen):
    """Models and providers stored in the database and edited through the admin API (docs/operations.md)."""

    # Fernet keys (urlsafe base64 of 32 bytes) that encrypt provider secrets at rest: the first encrypts, every one
    # decrypts (rotation: put the new key first, keep the old ones until every provider is re-saved).
    # Unset: the WARDGATE_SECRET_KEYS environment variable (comma-separated); neither: secrets cannot be stored.
    secret_keys: list[SecretStr] = Field(default_factory=list)

    @field_validator("secret_keys")
    @classmethod
    def _fernet_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        from wardgate.config.secrets import check_key  # cryptography loads only when keys are configured

        for i, key in enumerate(value):
            problem = check_key(key.get_secret_value())
            if problem is not None:
                raise ValueError(f"secret_keys[{i}]: {problem}")
        return value


class RedisConfig(Frozen):
    """The shared Redis of a multi-replica deployment: budgets, rate limits, cache, routing health, invalidations."""

    url: Annotated[str, Field(min_length=1)]
    key_prefix: Annotated[str, Field(min_length=1, max_length=64)] = "wg:"
    socket_timeout_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    max_connections: Annotated[int, Field(gt=0, le=10_000)] = 64  # per worker; a burst queues for a connection

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://host:port/db (or rediss://, unix://) URL")
        return value


class LedgerConfig(Frozen):
    flush_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    max_batch: Annotated[int, Field(gt=0, le=10_000)] = 500
    # process: each worker's batches are written by a child process of its own (store/writer_process.py), off the
    # worker's event loop and GIL; inline: by the worker itself (decision 063)
    writer: Literal["inline", "process"] = "inline"


class AuditConfig(Frozen):
    """The audit trail's anchor outside the database (store/audit.py). ``hmac_key`` keys the chain and signs its
    checkpoints; unset, a key derived from ``master_key`` is used (and a warning logged at start-up), so rotating
    the master key then breaks ``audit verify`` for older rows: production sets its own key."""

    hmac_key: SecretStr | None = None
    checkpoint_interval_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0  # at most this long between checkpoints

    @field_validator("hmac_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError(
                "must be at least 32 bytes (e.g. `openssl rand -hex 32`; an empty ${VAR} is the usual cause)"
            )
        return value


class DeploymentConfig(Frozen):
    provider: str
    model: Annotated[str, Field(min_length=1)]
    weight: Annotated[float, Field(gt=0)] = 1.0
    timeouts: TimeoutsConfig | None = None  # overrides the provider's
    price: PriceConfig | None = None  # USD per 1M tokens; overrides the catalog for this deployment
    tags: list[str] = Field(default_factory=list)  # free labels, shown in the routing state
    model_class: str | None = None  # e.g. frontier / economy: what the model_class strategy and the classifier pick
    pin: Annotated[str, Field(min_length=1)] | None = None  # the exact upstream version sent instead of `model`


class CanaryConfig(Frozen):
    """A candidate deployment that gets ``percent`` of the calls, sticky per user or key, until promoted or rolled
    back (automatically when its error rate or p95 latency exceeds the baseline's by a margin)."""

    deployment: DeploymentConfig
    percent: Annotated[float, Field(gt=0, le=100)]
    sticky: Literal["user", "key"] = "user"
    rollback: CanaryRollbackConfig = CanaryRollbackConfig()


class ModelConfig(Frozen):
    """A public model name: its deployments and how calls are routed among them, written as a list of deployments
    (weighted, no fall-back: the original form) or as a mapping with ``deployments:`` and routing options.

    Iterating it yields every deployment, the canary's included, so code written for the list form keeps working.
    """

    deployments: Annotated[list[DeploymentConfig], Field(min_length=1)]
    strategy: Strategy = "weighted"
    fallbacks: list[str] = Field(default_factory=list)  # other public models, tried in order after these
    retries: Annotated[int, Field(ge=0, le=10)] = 0  # extra attempts on the same deployment before moving on
    backoff: BackoffConfig = BackoffConfig()
    deadline_s: Annotated[float, Field(gt=0, le=3600)] | None = None  # bounds every attempt of a call together
    fallback_on: list[FailureKind] = Field(default_factory=lambda: list(DEFAULT_FALLBACK_ON))
    first_chunk_timeout_s: Annotated[float, Field(gt=0, le=600)] | None = None  # a stream stalled longer falls back
    default_class: str | None = None  # the model class preferred when no classifier or key tag chooses one
    canary: CanaryConfig | None = None
    classifier: ClassifierConfig | None = None
    cache: ModelCacheConfig | None = None  # this model's response cache; cache.default applies when unset
    breaker: BreakerConfig | None = None  # this model's own breakers for its deployments; unset: routing.breaker

    @model_validator(mode="before")
    @classmethod
    def _list_form(cls, value: Any) -> Any:
        return {"deployments": value} if isinstance(value, list) else value

    @property
    def all_deployments(self) -> list[DeploymentConfig]:
        return [*self.deployments, self.canary.deployment] if self.canary is not None else self.deployments

    def __iter__(self) -> Iterator[DeploymentConfig]:  # type: ignore[override]
        return iter(self.all_deployments)

    def __len__(self) -> int:
        return len(self.all_deployments)

    def __getitem__(self, index: int) -> DeploymentConfig:
        return self.all_deployments[index]


OIDC_CALLBACK_PATH = "/admin/v1/session/oidc/callback"


class UIOIDCConfig(Frozen):
    """Console sign-in through the issuer of ``identity.jwt`` (authorization code + PKCE). The ID token it returns
    is verified as every JWT of that issuer, so ``client_id`` must be one of ``identity.jwt.audience``."""

    client_id: Annotated[str, Field(min_length=1, max_length=500)]
    client_secret: SecretStr | None = None  # for confidential clients; PKCE is used either way
    redirect_url: Annotated[str, Field(min_length=1, max_length=2000)]

    @field_validator("redirect_url")
    @classmethod
    def _callback(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or not value.endswith(OIDC_CALLBACK_PATH):
            raise ValueError(f"must be this gateway's URL ending in {OIDC_CALLBACK_PATH}")
        return value


class UIConfig(Frozen):
    """The web console at /ui (docs/console.md). Its session cookie is sealed with ``session_secret``; unset, a key
    derived from ``master_key``. With neither, the console cannot sign anyone in (it says so)."""

    enabled: bool = True
    session_ttl_s: Annotated[float, Field(ge=60, le=7 * 86_400)] = 8 * 3600.0
    session_secret: SecretStr | None = None
    oidc: UIOIDCConfig | None = None  # unset: sign-in with a key only

    @field_validator("session_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes long")
        return value


class FilesConfig(Frozen):
    """``/v1/files`` and ``/v1/batches`` (docs/files.md): the one provider that stores files and runs batches."""

    provider: Annotated[str, Field(min_length=1)]
    # each worker's poller asks the provider about unsettled batches this often and settles those that ended
    # (api/batch_settle.py); 0: only retrievals through the gateway settle batches
    settle_every_s: Annotated[float, Field(ge=0, le=86400)] = 60.0


class ResponsesConfig(Frozen):
    """``/v1/responses`` (docs/responses.md)."""

    # the public model a request naming none is routed on (OpenAI's API lets a stored prompt carry the model); unset:
    # such a request is a 400 naming `model`
    default_model: Annotated[str, Field(min_length=1)] | None = None


class Settings(Frozen):
    master_key: SecretStr | None = None
    store: Annotated[str, Field(min_length=1)] = "sqlite:///wardgate.db"
    server: ServerConfig = ServerConfig()
    reload: ReloadConfig = ReloadConfig()
    catalog: CatalogConfig = CatalogConfig()
    identity: IdentityConfig = IdentityConfig()
    ledger: LedgerConfig = LedgerConfig()
    audit: AuditConfig = AuditConfig()
    redis: RedisConfig | None = None  # unset: every counter and cache is in-process (one replica)
    limits: LimitsConfig = LimitsConfig()
    budgets: list[BudgetConfig] = Field(default_factory=list)
    rate_limits: list[RateLimitConfig] = Field(default_factory=list)
    # provider name → its config; each is validated by the config class its ``type`` registers (loader.py)
    providers: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    routing: RoutingConfig = RoutingConfig()
    cache: CacheConfig = CacheConfig()
    guards: list[GuardConfig] = Field(default_factory=list)
    guards_stream: GuardsStreamConfig = GuardsStreamConfig()
    prompts: PromptsConfig | None = None  # managed prompt templates (docs/prompts.md); unset: the stage is off
    ui: UIConfig = UIConfig()

    @model_validator(mode="after")
    def _console_oidc(self) -> Self:
        oidc = self.ui.oidc
        if oidc is None:
            return self
        if self.identity.jwt is None:
            raise ValueError("ui.oidc: needs identity.jwt (its issuer signs the console's users in)")
        audience = self.identity.jwt.audience
        if oidc.client_id not in ([audience] if isinstance(audience, str) else audience):
            raise ValueError("ui.oidc.client_id: must be one of identity.jwt.audience (the ID token's audience)")
        return self

    telemetry: TelemetryConfig | None = None  # unset: no telemetry stage at all (nothing assembled, nothing paid)
    alerts: list[AlertConfig] = Field(default_factory=list)
    mcp: MCPConfig | None = None  # unset: no /mcp routes, nothing assembled (docs/mcp.md)
    tool_policies: list[ToolPolicyConfig] = Field(default_factory=list)
    files: FilesConfig | None = None  # unset: /v1/files and /v1/batches answer 404 (docs/files.md)
    responses: ResponsesConfig = ResponsesConfig()

    @model_validator(mode="after")
    def _responses_model(self) -> Self:
        model = self.responses.default_model
        if model is not None and model not in self.models:
            raise ValueError(
                f"responses.default_model: {model!r} is not a configured model; use one of: {', '.join(self.models)}"
            )
        return self

    @model_validator(mode="after")
    def _files_provider(self) -> Self:
        if self.files is not None and self.files.provider not in self.providers:
            raise ValueError(
                f"files.provider: {self.files.provider!r} is not a configured provider; "
                f"use one of: {', '.join(sorted(self.providers))}"
            )
        return self

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "sqlite+aiosqlite:", "postgresql:", "postgresql+asyncpg:", "postgres:")):
            raise ValueError("must be a sqlite:///path or postgresql://user@host/db URL")
        return value

    @model_validator(mode="after")
    def _writer_reaches_store(self) -> Self:
        path = self.store.partition("://")[2].lstrip("/")
        memory = not path or path.startswith(":memory:") or "mode=memory" in path
        if self.ledger.writer == "process" and self.store.startswith("sqlite") and memory:
            raise ValueError("ledger.writer: 'process' cannot reach an in-memory SQLite store; use a file or 'inline'")
        return self

    @model_validator(mode="after")
    def _cache_embeddings(self) -> Self:
        configs = [("cache.default", self.cache.default)]
        configs += [(f"models.{name}.cache", model.cache) for name, model in self.models.items()]
        for where, config in configs:
            if config is None or config.semantic is None or config.semantic.embedding == "local":
                continue
            if config.semantic.embedding not in self.models:
                raise ValueError(
                    f"{where}.semantic.embedding: {config.semantic.embedding!r} is not a configured model; "
                    f"use 'local' (the bundled offline model) or one of: {', '.join(sorted(self.models))}"
                )
        return self

    @model_validator(mode="after")
    def _guard_names_unique(self) -> Self:
        seen: set[str] = set()
        for i, guard in enumerate(self.guards):
            if guard.name in seen:
                raise ValueError(f"guards[{i}].name: {guard.name!r} is used by another guard")
            seen.add(guard.name)
        return self

    @model_validator(mode="after")
    def _decorator_models(self) -> Self:
        decorators = self.prompts.decorators if self.prompts is not None else []
        for i, decorator in enumerate(decorators):
            unknown = [m for m in decorator.models or () if m not in self.models]
            if unknown:
                raise ValueError(
                    f"prompts.decorators[{i}].models: {', '.join(map(repr, unknown))} is not a configured model; "
                    f"use one of: {', '.join(sorted(self.models))}"
                )
        return self

    @field_validator("master_key")
    @classmethod
    def _master_key_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("must be at least 8 characters (an empty ${VAR} is the usual cause)")
        return value
