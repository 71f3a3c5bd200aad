"""botocore and google-auth are extras (``wardgate[bedrock]``, ``wardgate[vertex]``): imported only when a provider of
that type is built, and, when missing, refused with an error that names the provider and the extra to install.

A missing package is simulated the way Python itself spells it: ``sys.modules[name] = None`` makes both ``import``
and ``importlib.util.find_spec`` report it absent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.gemini import FakeGemini
from wardgate.config import ConfigError
from wardgate.config.loader import load_config_text
from wardgate.providers import registry
from wardgate.providers.http import UpstreamHTTP, new_session

CONFIG = """
master_key: sk-master-0123456789
providers:
  {name}: {provider}
models:
  m: [{{provider: {name}, model: x}}]
"""
BEDROCK = "{type: bedrock, region: us-east-1, access_key_id: AKIAFAKE, secret_access_key: fake}"


def vertex(key_file: Path) -> str:
    return f'{{type: vertex, project: p, credentials_file: "{key_file}"}}'


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    with FakeGemini("AIza-unused-0000000000000000000000000") as fake:  # only its key-file writer is used
        return fake.write_service_account(tmp_path / "sa.json")


def hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` absent, and forget our modules that import them, so that they are imported again (and fail)
    as on an install without the extra. monkeypatch puts everything back after the test."""
    ours = ("wardgate.providers.bedrock.", "wardgate.providers.framing.eventstream", "wardgate.providers.gemini.cred")
    for name in list(sys.modules):
        if name.startswith(ours) and name != "wardgate.providers.bedrock.config":
            monkeypatch.delitem(sys.modules, name)
    for name in list(sys.modules):  # a cached submodule would be found without its package
        if any(name == module or name.startswith(module + ".") for module in modules):
            monkeypatch.setitem(sys.modules, name, None)
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_a_bedrock_provider_without_botocore_is_a_config_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hide(monkeypatch, "botocore")
    with pytest.raises(ConfigError) as caught:
        load_config_text(CONFIG.format(name="aws", provider=BEDROCK), source="wardgate.yaml", env={})
    message = str(caught.value)
    assert "wardgate.yaml: providers.aws: type bedrock needs botocore" in message
    assert "install wardgate[bedrock]" in message


def test_a_vertex_provider_without_google_auth_is_a_config_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, key_file: Path
) -> None:
    hide(monkeypatch, "google.auth")
    with pytest.raises(ConfigError) as caught:
        load_config_text(CONFIG.format(name="gcp", provider=vertex(key_file)), source="wardgate.yaml", env={})
    message = str(caught.value)
    assert "wardgate.yaml: providers.gcp: type vertex needs google-auth" in message
    assert "install wardgate[vertex]" in message


async def test_building_an_adapter_without_its_extra_names_the_provider_and_the_extra(
    monkeypatch: pytest.MonkeyPatch, key_file: Path
) -> None:
    """The factory's own check, for a config that skipped validation (built in code, or a package removed after
    the config was checked)."""
    aws = registry.get("bedrock")
    gcp = registry.get("vertex")
    assert aws is not None and gcp is not None
    aws_config = aws.config.model_validate(
        {"type": "bedrock", "region": "us-east-1", "access_key_id": "AKIAFAKE", "secret_access_key": "fake"}
    )
    gcp_config = gcp.config.model_validate({"type": "vertex", "project": "p", "credentials_file": str(key_file)})
    hide(monkeypatch, "botocore", "google.auth")
    http = UpstreamHTTP(new_session())
    try:
        with pytest.raises(
            registry.MissingExtra, match=r"provider 'aws' has type bedrock.*install wardgate\[bedrock\]"
        ):
            aws.factory("aws", aws_config, http)
        with pytest.raises(registry.MissingExtra, match=r"provider 'gcp' has type vertex.*install wardgate\[vertex\]"):
            gcp.factory("gcp", gcp_config, http)
    finally:
        await http.session.close()


def test_checking_a_config_with_bedrock_and_vertex_imports_neither_sdk(key_file: Path) -> None:
    """The config check finds the extras without importing them: ``wardgate config check`` and the serve command's
    validation stay as fast as before."""
    text = CONFIG.format(name="aws", provider=BEDROCK).replace("models:", f"  gcp: {vertex(key_file)}\nmodels:")
    code = (
        "import sys\n"
        "from wardgate.config.loader import load_config_text\n"
        f"settings = load_config_text({text!r}, env={{}})\n"
        "assert sorted(settings.providers) == ['aws', 'gcp'], settings.providers\n"
        "loaded = [m for m in ('botocore', 'google.auth', 'requests') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
