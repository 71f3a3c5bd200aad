"""The ``type: bedrock`` provider config. Kept apart from the adapter so that registering the type does not import
botocore (a quarter of a second per worker) unless a Bedrock provider is configured."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from wardgate.config.schema import BaseURL, TimeoutsConfig
from wardgate.providers import registry


class BedrockConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$", description="e.g. us-east-1")]
    access_key_id: SecretStr | None = None  # with secret_access_key; both absent: botocore's default chain
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    base_url: BaseURL | None = None  # default https://bedrock-runtime.{region}.amazonaws.com
    timeouts: TimeoutsConfig = TimeoutsConfig()

    @model_validator(mode="after")
    def _keys_in_pairs(self) -> BedrockConfig:
        key, private = secret(self.access_key_id), secret(self.secret_access_key)
        if bool(key) != bool(private):
            raise ValueError(
                "set both access_key_id and secret_access_key, or neither to use the default AWS credential chain"
                " (an empty ${VAR} is the usual cause)"
            )
        if secret(self.session_token) and not key:
            raise ValueError("session_token needs access_key_id and secret_access_key")
        registry.require_extra("bedrock", "botocore", "botocore", "bedrock")
        return self


def secret(value: SecretStr | None) -> str | None:
    """The value, with an empty string (an unset ``${VAR}``) read as absent."""
    return value.get_secret_value() or None if value is not None else None
