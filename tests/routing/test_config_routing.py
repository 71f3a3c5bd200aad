"""The `models:` entry: the list form still loads, the mapping form adds routing, and mistakes name their key."""

from __future__ import annotations

import pytest

from wardgate.config import ConfigError, load_config_text
from wardgate.config.schema import Settings

HEAD = """
master_key: sk-master-123456
providers:
  a: {type: openai, base_url: "http://127.0.0.1:9/v1", api_key: sk-a}
  b: {type: anthropic, base_url: "http://127.0.0.1:9", api_key: sk-b}
models:
"""


def load(models: str) -> Settings:
    return load_config_text(HEAD + models, source="wardgate.yaml", env={})


def problems(models: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(models)
    return str(caught.value)


def test_the_list_form_is_a_weighted_model_without_options() -> None:
    settings = load("  gpt: [{provider: a, model: gpt-4o-mini, weight: 2}]\n")
    entry = settings.models["gpt"]
    assert entry.strategy == "weighted" and entry.retries == 0 and entry.fallbacks == []
    assert entry[0].model == "gpt-4o-mini" and len(entry) == 1 and [d.weight for d in entry] == [2.0]


def test_the_mapping_form_carries_every_routing_option() -> None:
    settings = load(
        """
  smart:
    strategy: lowest_latency
    deployments:
      - {provider: a, model: gpt-4o, tags: [eu], model_class: frontier, pin: gpt-4o-2024-08-06}
      - {provider: b, model: claude-sonnet-4-5, model_class: frontier}
      - {provider: a, model: gpt-4o-mini, model_class: economy}
    fallbacks: [cheap]
    retries: 2
    backoff: {base_s: 0.5, max_s: 4, max_retry_after_s: 10}
    deadline_s: 30
    fallback_on: [rate_limit, timeout, content_policy]
    first_chunk_timeout_s: 5
    classifier: {threshold: 0.6, easy: economy, hard: frontier}
    canary: {deployment: {provider: b, model: claude-opus-4-5}, percent: 5, sticky: key,
             rollback: {min_requests: 50, error_rate_margin: 0.02, p95_margin: 0.3, window_s: 600}}
  cheap: [{provider: a, model: gpt-4o-mini}]
routing:
  health: {alpha: 0.2, window_s: 120, sync_interval_s: 2}
  breaker: {failures: 3, cooldown_s: 10}
"""
    )
    smart = settings.models["smart"]
    assert smart.deployments[0].pin == "gpt-4o-2024-08-06" and smart.deployments[0].tags == ["eu"]
    assert smart.canary is not None and smart.canary.percent == 5 and smart.canary.rollback.min_requests == 50
    assert [d.model for d in smart] == ["gpt-4o", "claude-sonnet-4-5", "gpt-4o-mini", "claude-opus-4-5"]
    assert settings.routing.breaker.failures == 3 and settings.routing.health.alpha == 0.2


def test_a_plug_in_classifier_is_loaded_at_start_up() -> None:
    load(
        """
  m:
    deployments: [{provider: a, model: x, model_class: small}, {provider: b, model: y, model_class: big}]
    classifier: {easy: small, hard: big, plugin: "tests.routing.plugin:LengthScorer"}
"""
    )
    text = problems(
        """
  m:
    deployments: [{provider: a, model: x, model_class: small}, {provider: b, model: y, model_class: big}]
    classifier: {easy: small, hard: big, plugin: "tests.routing.plugin:NOT_A_SCORER"}
"""
    )
    assert "models.m.classifier.plugin: cannot be loaded" in text


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        ("  gpt: [{provider: c, model: x}]\n", "models.gpt[0].provider: 'c' is not a configured provider."),
        ("  gpt: [{provider: a}]\n", "models.gpt[0].model: is required."),
        (
            "  gpt: {deployments: [{provider: c, model: x}]}\n",
            "models.gpt.deployments[0].provider: 'c' is not a configured provider.",
        ),
        ("  gpt: {deployments: [{provider: a, model: x}], fallbacks: [nope]}\n", "models.gpt.fallbacks[0]: 'nope'"),
        ("  gpt: {deployments: [{provider: a, model: x}], fallbacks: [gpt]}\n", "cannot fall back to itself"),
        ("  gpt: {deployments: [{provider: a, model: x}], strategy: fastest}\n", "models.gpt.strategy: 'fastest'"),
        ("  gpt: {deployments: [{provider: a, model: x}], retry: 2}\n", "models.gpt.retry: unknown key."),
        (
            "  gpt: [{provider: a, model: x}, {provider: a, model: x}]\n",
            "models.gpt[1]: a/x is listed twice for this model.",
        ),
        (
            "  gpt: {deployments: [{provider: a, model: x}], strategy: model_class}\n",
            "models.gpt.strategy: model_class needs a class to prefer.",
        ),
        (
            "  gpt: {deployments: [{provider: a, model: x, model_class: big}], classifier: {easy: small, hard: big}}\n",
            "models.gpt.classifier.easy: 'small' is not the model_class of any of this model's deployments.",
        ),
        (
            "  gpt: {deployments: [{provider: a, model: x}],"
            " canary: {deployment: {provider: z, model: y}, percent: 5}}",
            "models.gpt.canary.deployment.provider: 'z' is not a configured provider.",
        ),
        (
            "  gpt: {deployments: [{provider: a, model: x}],"
            " canary: {deployment: {provider: b, model: y}, percent: 0}}",
            "models.gpt.canary.percent",
        ),
        ("  gpt: {deployments: []}\n", "models.gpt.deployments"),
    ],
)
def test_mistakes_name_their_key(models: str, expected: str) -> None:
    assert expected in problems(models)


def test_an_unknown_key_of_a_model_lists_the_known_ones() -> None:
    text = problems("  gpt: {deployments: [{provider: a, model: x}], retry: 2}\n")
    assert "retries" in text.split("Fix:")[1] and "fallbacks" in text.split("Fix:")[1]
