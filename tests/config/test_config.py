"""Config loading: interpolation after parsing, validation that names the key and the fix."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
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


def problems(text: str, env: Mapping[str, str] | None = None) -> str:
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


def test_config_check_reports_every_problem_in_one_pass(tmp_path: Path) -> None:
    config = tmp_path / "many.yaml"
    config.write_text(
        """
master_key: sk-12345678
providers:
  m: {type: mock}
  broken: {type: nosuch}
models:
  a:
    deployments: [{provider: m, model: x}]
    fallbacks: [nowhere]
  b:
    deployments: [{provider: m, model: y, model_class: small}]
    strategy: model_class
    default_class: large
rate_limits:
  - {name: quoted, scope: project, rpm: "600"}
budgets:
  - {name: tip, scope: global, limit_usd: 5, on_exceed: fallback, fallback: [a, cheap-model]}
  - {name: bad, scope: everyone, limit_usd: 5}
cache: {max_ttl_s: "soon"}
server: {max_body_bytes: "${UNSET_SIZE_FOR_TEST}"}
"""
    )
    done = run_cli("config", "check", str(config))
    assert done.returncode == 1
    for expected in (
        "server.max_body_bytes: environment variable UNSET_SIZE_FOR_TEST is not set.",  # interpolation
        "budgets[1].scope: 'everyone' is not allowed",  # schema
        "cache.max_ttl_s:",  # schema, another section
        "providers.broken.type: 'nosuch' is not a provider type.",  # providers
        "models.a.fallbacks[0]: 'nowhere' is not a configured model.",  # cross-reference: fall-backs
        "models.b.default_class: 'large' is not the model_class",  # cross-reference: classes
        "budgets[0].fallback[1]: 'cheap-model' is not a configured model.",  # cross-reference: budget fallback
        "rate_limits[0].rpm: '600' is a string, but this setting is a number.",  # strict types
    ):
        assert expected in done.stderr, (expected, done.stderr)


def test_a_quoted_number_from_the_environment_is_still_a_number() -> None:
    text = """
master_key: sk-12345678
providers: {m: {type: mock}}
models: {x: [{provider: m, model: y}]}
rate_limits: [{name: r, scope: project, rpm: "${RPM:-600}"}]
"""
    assert load_config_text(text, env={}).rate_limits[0].rpm == 600
    with pytest.raises(ConfigError, match=r"rate_limits\[0\].rpm: '600' is a string"):
        load_config_text(text.replace('"${RPM:-600}"', '"600"'), env={})


def test_secrets_are_read_from_files_in_the_secrets_dir_after_the_environment(tmp_path: Path) -> None:
    """A Kubernetes Secret mounted as a volume: one file per key (the chart sets WARDGATE_SECRETS_DIR)."""
    from wardgate.config.interpolate import Environment

    (tmp_path / "WARDGATE_MASTER_KEY").write_text("sk-from-a-file-123\n")  # one trailing newline dropped
    (tmp_path / "OPENAI_API_KEY").write_text("sk-file-upstream")
    env = Environment({"OPENAI_API_KEY": "sk-env-upstream"}, str(tmp_path))  # the environment wins
    settings = load_config_text(GOOD, env=env)
    assert settings.master_key is not None and settings.master_key.get_secret_value() == "sk-from-a-file-123"
    assert settings.providers["openai-main"].api_key.get_secret_value() == "sk-env-upstream"  # type: ignore[attr-defined]
    (tmp_path / "OPENAI_API_KEY").write_bytes(b"x" * (64 * 1024 + 1))
    text = problems(GOOD, env=Environment({}, str(tmp_path)))
    assert "providers.openai-main.api_key: secret OPENAI_API_KEY:" in text and "over 64 KiB" in text
    (tmp_path / "OPENAI_API_KEY").unlink()
    text = problems(GOOD, env=Environment({}, str(tmp_path)))
    assert "environment variable OPENAI_API_KEY is not set." in text


def test_the_ledger_writer_is_inline_or_a_process_that_can_reach_the_store() -> None:
    assert load_config_text(GOOD, source="w.yaml", env=ENV).ledger.writer == "inline"
    chosen = load_config_text(GOOD + "ledger: {writer: process}\n", source="w.yaml", env=ENV)
    assert chosen.ledger.writer == "process"
    assert "ledger.writer" in problems(GOOD + "ledger: {writer: thread}\n")
    for memory in ("sqlite://", "sqlite:///:memory:", "sqlite:///file:w?mode=memory&uri=true"):
        text = problems(GOOD + f"store: '{memory}'\nledger: {{writer: process}}\n")
        assert "cannot reach an in-memory SQLite store" in text
