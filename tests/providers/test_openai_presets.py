"""Every OpenAI-compatible preset is the OpenAI adapter with its own base URL and auth."""

from __future__ import annotations

import pytest

from wardgate.providers import registry
from wardgate.providers.http import error_from_status, scrub
from wardgate.providers.presets import PRESETS

EXPECTED_BASES = {
    "openai": "https://api.openai.com/v1",
    "groq": "https://api.groq.com/openai/v1",
    "mistral": "https://api.mistral.ai/v1",
    "together": "https://api.together.xyz/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "xai": "https://api.x.ai/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "perplexity": "https://api.perplexity.ai",
    "cerebras": "https://api.cerebras.ai/v1",
    "ollama": "http://127.0.0.1:11434/v1",
    "vllm": "http://127.0.0.1:8000/v1",
    "lmstudio": "http://127.0.0.1:1234/v1",
    "llamacpp": "http://127.0.0.1:8080/v1",
    "tgi": "http://127.0.0.1:8080/v1",
}


@pytest.mark.parametrize("type_name", sorted(EXPECTED_BASES))
def test_a_preset_needs_only_its_name_and_key(type_name: str) -> None:
    ptype = registry.get(type_name)
    assert ptype is not None
    config = ptype.config.model_validate({"type": type_name, "api_key": "sk-preset-key"})
    adapter = ptype.factory("p", config, None)  # type: ignore[arg-type]
    assert adapter.base_url == EXPECTED_BASES[type_name]  # type: ignore[attr-defined]
    assert adapter.headers["authorization"] == "Bearer sk-preset-key"  # type: ignore[attr-defined]
    assert adapter.type == type_name


def test_local_servers_run_without_a_key() -> None:
    for name, preset in PRESETS.items():
        if not preset.key_required and preset.base_url:
            ptype = registry.get(name)
            assert ptype is not None
            adapter = ptype.factory("p", ptype.config.model_validate({"type": name}), None)  # type: ignore[arg-type]
            assert "authorization" not in adapter.headers  # type: ignore[attr-defined]


def test_error_messages_are_scrubbed_of_keys() -> None:
    assert scrub("Incorrect API key provided: sk-abc***xyz. See", ("sk-live-secret",)) == (
        "Incorrect API key provided: ***. See"
    )
    assert "sk-live-secret" not in scrub("echo sk-live-secret", ("sk-live-secret",))
    error = error_from_status("p", 401, "Incorrect API key provided: sk-abc***xyz")
    assert error.status == 502 and "sk-" not in error.message


@pytest.mark.parametrize(
    ("upstream", "status", "code"),
    [
        (400, 400, None),
        (404, 404, "not_found"),
        (408, 504, "upstream_timeout"),
        (413, 413, "request_too_large"),
        (422, 400, None),
        (429, 429, "rate_limit_exceeded"),
        (500, 502, "upstream_error"),
        (502, 502, "upstream_error"),
        (503, 503, "upstream_error"),
        (504, 504, "upstream_timeout"),
        (529, 503, "upstream_overloaded"),
    ],
)
def test_one_status_mapping_for_provider_errors(upstream: int, status: int, code: str | None) -> None:
    error = error_from_status("p", upstream, "boom", {"retry-after": "3"})
    assert (error.status, error.code) == (status, code)


def test_anthropic_surface_hints_are_stripped_for_openai_upstreams() -> None:
    from wardgate.providers.openai import strip_anthropic_hints

    body = {
        "cache_control": {"type": "ephemeral"},
        "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": "x", "thinking_blocks": [{"type": "thinking", "signature": "sig"}]},
            {"role": "tool", "tool_call_id": "c1", "content": "boom", "is_error": True},
        ],
    }
    original = repr(body)
    out = dict(body)
    strip_anthropic_hints(out)
    assert repr(body) == original  # the caller's body is untouched
    assert "cache_control" not in out and "cache_control" not in out["tools"][0]
    assert out["messages"][0]["content"] == [{"type": "text", "text": "s"}]
    assert "thinking_blocks" not in out["messages"][1]
    assert out["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": "Error: boom"}
