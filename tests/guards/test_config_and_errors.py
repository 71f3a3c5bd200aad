"""Bad guard config is an error naming the key; a guard that fails follows its on_error."""

from __future__ import annotations

import asyncio

import pytest

from tests.guards.helpers import call, relay, text_chunk
from wardgate.config import load_config_text
from wardgate.config.errors import ConfigError
from wardgate.config.guards import GuardConfig
from wardgate.guards.engine import Guard
from wardgate.guards.errors import GuardUnavailable
from wardgate.guards.findings import Pattern, compile_rx
from wardgate.guards.stage import GuardsStage

BASE = "master_key: sk-test-master-key\n"


@pytest.mark.parametrize(
    ("guards", "key", "words"),
    [
        ("[{name: r, type: regex, patterns: ['(unclosed']}]", "guards[0].patterns", "not a valid regular expression"),
        ("[{name: p, type: pii, entities: [email, shoe_size]}]", "guards[0].entities", "shoe_size"),
        ("[{name: t, type: astrology}]", "guards[0].type", "injection"),
        ("[{name: s, type: size}]", "guards[0]", "max_messages"),
        ("[{name: i, type: injection, action: redact}]", "guards[0]", "blocks or warns"),
        ("[{name: g, type: pii, scope: global, match: x}]", "guards[0]", "match"),
        ("[{name: a, type: pii}, {name: a, type: secrets}]", "guards", "used by another guard"),
        ("[{name: a, type: pii, colour: red}]", "guards[0].colour", "unknown key"),
    ],
)
def test_bad_guard_config_names_the_key(guards: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(BASE + f"guards: {guards}\n", source="t.yaml", env={})
    assert key in str(caught.value) and words in str(caught.value)


def test_the_issue_example_loads() -> None:
    settings = load_config_text(
        BASE
        + """
guards:
  - name: injection
    type: injection
    on: request
    action: block
    scope: project
    match: search
    sensitivity: balanced
    on_error: block
guards_stream: {holdback_chars: 64}
""",
        source="t.yaml",
        env={},
    )
    assert settings.guards[0].on == "request" and settings.guards_stream.holdback_chars == 64


def _broken(on_error: str, on: str = "request") -> GuardsStage:
    def boom(value: str) -> bool:
        raise RuntimeError("detector bug")

    config = GuardConfig(name="broken", type="regex", on=on, action="redact", patterns=["x"], on_error=on_error)  # type: ignore[arg-type]
    guard = Guard(config, (Pattern("regex", compile_rx("x"), check=boom),))
    return GuardsStage([guard], 64, None)


def test_a_failing_guard_fails_closed_by_default() -> None:
    stage = _broken("block")
    c = call({"model": "m", "messages": [{"role": "user", "content": "xyz"}]})
    with pytest.raises(GuardUnavailable) as caught:
        asyncio.run(stage.before(c))
    assert caught.value.status == 503 and caught.value.code == "guard_unavailable" and caught.value.param is None
    assert dict(c.response_headers)[b"x-wardgate-guards"] == b"broken=error"


def test_on_error_allow_lets_the_call_through() -> None:
    stage = _broken("allow", on="both")
    c = call({"model": "m", "messages": [{"role": "user", "content": "xyz"}]})
    assert asyncio.run(stage.before(c)) is None
    assert c.body["messages"][0]["content"] == "xyz"
    out = relay(stage, c, [text_chunk("x marks "), text_chunk("the spot", finish="stop")])
    assert "".join(ch.data["choices"][0]["delta"].get("content") or "" for ch in out) == "x marks the spot"


def test_a_failing_answer_guard_ends_the_stream_with_guard_unavailable() -> None:
    stage = _broken("block", on="response")
    c = call()
    asyncio.run(stage.before(c))
    with pytest.raises(GuardUnavailable):
        relay(stage, c, [text_chunk("x marks "), text_chunk("the spot", finish="stop")])


def test_a_request_too_large_to_check_follows_on_error() -> None:
    from wardgate.guards.engine import compile_guards
    from wardgate.guards.request import MAX_SCAN_CHARS

    big = "word " * (MAX_SCAN_CHARS // 5 + 10)
    for on_error, fails in (("block", True), ("allow", False)):
        config = GuardConfig(name="pii", type="pii", on_error=on_error)  # type: ignore[arg-type]
        stage = GuardsStage(compile_guards([config]), 64, None)
        c = call({"model": "m", "messages": [{"role": "user", "content": big}]})
        if fails:
            with pytest.raises(GuardUnavailable):
                asyncio.run(stage.before(c))
        else:
            assert asyncio.run(stage.before(c)) is None
        assert dict(c.response_headers)[b"x-wardgate-guards"] == b"pii=error"
