"""The config schema. Every model forbids unknown keys and is frozen."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeoutsConfig(Frozen):
    """Seconds. ``first_byte`` bounds the wait for the response headers and every gap between two stream reads."""

    connect: Annotated[float, Field(gt=0)] = 10.0
    first_byte: Annotated[float, Field(gt=0)] = 120.0
    total: Annotated[float, Field(gt=0)] = 600.0


class ServerConfig(Frozen):
    max_body_bytes: Annotated[int, Field(gt=0)] = 32 * 1024 * 1024


class DeploymentConfig(Frozen):
    provider: str
    model: Annotated[str, Field(min_length=1)]
    weight: Annotated[float, Field(gt=0)] = 1.0
    timeouts: TimeoutsConfig | None = None  # overrides the provider's


class Settings(Frozen):
    master_key: SecretStr | None = None
    server: ServerConfig = ServerConfig()
    # provider name → its config; each is validated by the config class its ``type`` registers (loader.py)
    providers: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, Annotated[list[DeploymentConfig], Field(min_length=1)]] = Field(default_factory=dict)

    @field_validator("master_key")
    @classmethod
    def _master_key_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("must be at least 8 characters (an empty ${VAR} is the usual cause)")
        return value
