"""Bedrock config, credentials and SigV4 signing, without a server (the e2e tests sign against the fake)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from pydantic import ValidationError

from wardgate.providers import registry
from wardgate.providers.bedrock import build
from wardgate.providers.bedrock.adapter import BedrockAdapter
from wardgate.providers.bedrock.config import BedrockConfig
from wardgate.providers.bedrock.sigv4 import Signer, model_path, resolve_credentials, sign_request
from wardgate.providers.http import UpstreamHTTP, new_session

MODEL_IDS = [
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "arn:aws:bedrock:us-west-2:123456789012:provisioned-model/abc123def456",
    "cohere.embed-english-v3",
]
OPERATIONS = {"converse": "Converse", "converse-stream": "ConverseStream", "invoke": "InvokeModel"}


@pytest.fixture(scope="module")
def botocore_client() -> Iterator[Any]:
    client = botocore.session.Session().create_client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
    )
    yield client
    client.close()


@pytest.mark.parametrize("model_id", MODEL_IDS)
@pytest.mark.parametrize("action", list(OPERATIONS))
def test_the_model_path_is_what_botocore_serializes(botocore_client: Any, model_id: str, action: str) -> None:
    operation = botocore_client.meta.service_model.operation_model(OPERATIONS[action])
    params: dict[str, Any] = {"modelId": model_id}
    if action == "invoke":
        params["body"] = b"{}"
    serialized = botocore_client._serializer.serialize_to_request(params, operation)
    assert model_path(model_id, action) == serialized["url_path"]


def test_a_colon_and_an_arn_slash_are_percent_encoded() -> None:
    assert model_path("a.b-v1:0", "converse") == "/model/a.b-v1%3A0/converse"
    assert model_path("arn:aws:bedrock:r:1:inference-profile/x", "invoke") == (
        "/model/arn%3Aaws%3Abedrock%3Ar%3A1%3Ainference-profile%2Fx/invoke"
    )


def test_signing_adds_date_token_and_an_authorization_over_the_given_headers() -> None:
    headers = sign_request(
        ReadOnlyCredentials("AKIDEXAMPLE", "secret", "session-token"),
        "eu-west-3",
        "https://bedrock-runtime.eu-west-3.amazonaws.com/model/m%3A0/converse",
        b"{}",
        {"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Amz-Security-Token"] == "session-token"
    assert len(headers["X-Amz-Date"]) == 16
    authorization = headers["Authorization"]
    assert authorization.startswith(
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{headers['X-Amz-Date'][:8]}/eu-west-3/bedrock/"
    )
    assert "SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token," in authorization
    assert "secret" not in authorization


async def test_refreshable_credentials_refresh_in_a_worker_thread() -> None:
    now = datetime.now(UTC)
    threads: list[str] = []

    def refresh() -> dict[str, str]:
        threads.append(threading.current_thread().name)
        return {
            "access_key": "AK2",
            "secret_key": "SK2",
            "token": "T2",
            "expiry_time": (now + timedelta(hours=1)).isoformat(),
        }

    metadata = {
        "access_key": "AK1",
        "secret_key": "SK1",
        "token": "T1",
        "expiry_time": (now + timedelta(minutes=1)).isoformat(),
    }
    creds = RefreshableCredentials.create_from_metadata(metadata, refresh_using=refresh, method="test")
    signer = Signer(creds, "us-east-1")
    frozen = await signer.frozen()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == ("AK2", "SK2", "T2")
    assert threads and threads[0] != threading.current_thread().name
    assert signer.secrets() == ("SK2", "T2", "AK2")
    again = await signer.frozen()
    assert again.access_key == "AK2" and len(threads) == 1  # fresh now: no second refresh


def test_configured_keys_are_used_as_given() -> None:
    creds = resolve_credentials("AKID", "SECRET", None)
    assert isinstance(creds, Credentials)
    assert creds.get_frozen_credentials() == ReadOnlyCredentials("AKID", "SECRET", None)


@pytest.fixture
def bare_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No AWS configuration at all, and no instance metadata lookup (that would leave loopback)."""
    for name in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CREDENTIAL_EXPIRATION",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def test_without_configured_keys_the_default_chain_is_used(bare_aws_env: pytest.MonkeyPatch) -> None:
    bare_aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    bare_aws_env.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
    bare_aws_env.setenv("AWS_SESSION_TOKEN", "token-from-env")
    frozen = resolve_credentials(None, None, None).get_frozen_credentials()
    assert frozen == ReadOnlyCredentials("AKIDFROMENV", "secret-from-env", "token-from-env")


def test_the_default_chain_can_read_a_profile(bare_aws_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text("[work]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s3cr3t\n")
    bare_aws_env.setenv("AWS_PROFILE", "work")
    assert resolve_credentials(None, None, None).get_frozen_credentials().access_key == "AKIDPROFILE"


def test_no_credentials_anywhere_fails_at_start_up_with_a_fix(bare_aws_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="no AWS credentials: set access_key_id"):
        resolve_credentials(None, None, None)


# --- config ---------------------------------------------------------------------------------------------


def config(**fields: Any) -> BedrockConfig:
    ptype = registry.get("bedrock")
    assert ptype is not None
    validated = ptype.config.model_validate({"type": "bedrock", "region": "us-east-1", **fields})
    assert isinstance(validated, BedrockConfig)
    return validated


def test_bedrock_is_a_registered_provider_type() -> None:
    ptype = registry.get("bedrock")
    assert ptype is not None and ptype.config is BedrockConfig


@pytest.mark.parametrize(
    "fields",
    [
        {"access_key_id": "AKID"},
        {"secret_access_key": "s"},
        {"access_key_id": "AKID", "secret_access_key": ""},
        {"session_token": "t"},
        {"region": "US East"},
        {"base_url": "bedrock.example.com"},
        {"api_key": "x"},
    ],
)
def test_invalid_configs_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        config(**fields)


def test_credentials_are_secret_in_the_config_repr() -> None:
    cfg = config(access_key_id="AKIDSHOWN", secret_access_key="hidden-secret", session_token="hidden-token")
    assert "hidden-secret" not in repr(cfg) and "hidden-token" not in repr(cfg)


async def test_the_factory_defaults_the_endpoint_to_the_region() -> None:
    http = UpstreamHTTP(new_session())
    try:
        adapter = build("aws", config(region="eu-central-1", access_key_id="A", secret_access_key="S"), http)
        assert isinstance(adapter, BedrockAdapter)
        assert adapter.base_url == "https://bedrock-runtime.eu-central-1.amazonaws.com"
        assert adapter.signer.region == "eu-central-1"
        assert adapter.supports("chat") and adapter.supports("embeddings") and not adapter.supports("completions")
        custom = build("aws", config(base_url="http://127.0.0.1:9/", access_key_id="A", secret_access_key="S"), http)
        assert custom.base_url == "http://127.0.0.1:9"
    finally:
        await http.session.close()


def test_registering_the_type_does_not_load_botocore() -> None:
    code = "import sys, wardgate.providers.bedrock; assert 'botocore' not in sys.modules, 'botocore was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
