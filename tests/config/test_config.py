"""Config loading: interpolation after parsing, validation that names the key and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wardgate.config import ConfigError, load_config, load_config_text
from wardgate.config.loader import DEMO_CONFIG

GOOD = """
master_key: ${WARDGATE_MASTER_KEY}
providers:
  openai-main: {type: openai, base_url: https://api.openai.com/v1, api_key: ${OPENAI_API_KEY}}
models:
  gpt-4o-mini:                 # the public name clients send
    - {provider: openai-main, model: gpt-4o-mini}
"""
ENV = {"WARDGATE_MASTER_KEY": "sk-master-123456", "OPENAI_API_KEY": "sk-upstream"}


def problems(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, source="wardgate.yaml", env=ENV if env is None else env)
    return str(caught.value)


def test_the_documented_shape_loads_even_with_unquoted_placeholders_in_flow_mappings() -> None:
    settings = load_config_text(GOOD, env=ENV)
    assert settings.master_key is not None and settings.master_key.get_secret_value() == "sk-master-123456"
    provider = settings.providers["openai-main"]
    assert provider.api_key.get_secret_value() == "sk-upstream"  # type: ignore[attr-defined]
    assert settings.models["gpt-4o-mini"][0].model == "gpt-4o-mini"


def test_a_secret_with_yaml_syntax_cannot_change_the_structure() -> None:
    env = {**ENV, "OPENAI_API_KEY": "a: b\n# c, {d}"}
    settings = load_config_text(GOOD, env=env)
    assert settings.providers["openai-main"].api_key.get_secret_value() == "a: b\n# c, {d}"  # type: ignore[attr-defined]


def test_defaults_and_escapes() -> None:
    text = 'master_key: "${MISSING:-sk-default-key}"\nproviders:\n  p: {type: openai, api_key: "$${literal}"}\n'
    settings = load_config_text(text, env={})
    assert settings.master_key is not None and settings.master_key.get_secret_value() == "sk-default-key"
    assert settings.providers["p"].api_key.get_secret_value() == "${literal}"  # type: ignore[attr-defined]


def test_an_unset_variable_names_the_key_and_the_fix() -> None:
    text = problems(GOOD, env={"WARDGATE_MASTER_KEY": "sk-master-123456"})
    assert "wardgate.yaml: providers.openai-main.api_key: environment variable OPENAI_API_KEY is not set." in text
    assert "Fix: export OPENAI_API_KEY" in text


def test_an_unknown_key_is_an_error_listing_the_known_ones() -> None:
    text = problems(GOOD.replace("base_url:", "base_ulr:"))
    assert "providers.openai-main.base_ulr: unknown key." in text
    assert "base_url" in text.split("Fix:")[1]
    assert "unknown key" in problems(GOOD + "\nlimitz: {}\n")


def test_an_unknown_provider_type_lists_the_types() -> None:
    text = problems(GOOD.replace("type: openai", "type: opneai"))
    assert "providers.openai-main.type: 'opneai' is not a provider type." in text
    assert "groq" in text and "azure" in text and "mock" in text


def test_a_model_must_name_a_configured_provider() -> None:
    text = problems(GOOD.replace("provider: openai-main", "provider: openai-mian"))
    assert "models.gpt-4o-mini[0].provider: 'openai-mian' is not a configured provider." in text
    assert "Fix: use one of: openai-main." in text


def test_missing_master_key_and_bad_values_are_reported_together() -> None:
    text = problems(GOOD.replace("master_key: ${WARDGATE_MASTER_KEY}", "") + "server: {max_body_bytes: -1}\n")
    assert "master_key: is required." in text
    assert "server.max_body_bytes:" in text


def test_preset_requirements() -> None:
    assert "needs api_key" in problems("master_key: sk-12345678\nproviders:\n  g: {type: groq}\n")
    assert "needs base_url" in problems("master_key: sk-12345678\nproviders:\n  c: {type: openai_compatible}\n")
    load_config_text("master_key: sk-12345678\nproviders:\n  o: {type: ollama}\n", env={})


def test_invalid_yaml_says_where() -> None:
    assert "line 3" in problems("master_key: x\nproviders: [unclosed\n")


def test_the_demo_config_loads_without_any_environment() -> None:
    settings = load_config(DEMO_CONFIG, env={})
    assert set(settings.models) == {"gpt-4o-mini", "text-embedding-3-small"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wardgate.cli", *args], capture_output=True, text=True, check=False)


def test_config_check_prints_ok_or_every_problem(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("master_key: sk-12345678\nproviders:\n  m: {type: mock}\nmodels:\n  x: [{provider: m, model: y}]\n")
    done = run_cli("config", "check", str(good))
    assert done.returncode == 0 and "ok (1 providers, 1 models)" in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("master_key: sk-12345678\nproviders:\n  m: {type: mock, colour: red}\n")
    done = run_cli("config", "check", str(bad))
    assert done.returncode == 1
    assert f"{bad}: providers.m.colour: unknown key." in done.stderr
    assert run_cli("config", "check", str(tmp_path / "absent.yaml")).returncode == 1
