"""What a new config changes in a running worker, and which announcements a worker believes (pure, no I/O)."""

from __future__ import annotations

import orjson
import pytest

from wardgate.config import ConfigError, load_config_text
from wardgate.reload.plan import plan
from wardgate.store.applied_config import MAX_PAYLOAD, announcement, signing_key, verify

BASE = """
master_key: sk-test-master-key
store: sqlite:///unused.db
providers:
  mock: {type: mock}
models:
  gpt-4o-mini: [{provider: mock, model: gpt-4o-mini}]
"""


def test_a_new_route_is_applied_and_the_rest_kept() -> None:
    running = load_config_text(BASE, source="a.yaml", env={})
    candidate = load_config_text(
        BASE + "  gpt-4o: [{provider: mock, model: gpt-4o}]\nserver: {drain_timeout_s: 5}\n", source="b.yaml", env={}
    )
    change = plan(running, candidate, "b.yaml")
    assert change.changed == ("models",)
    assert change.needs_restart == ("server",)
    assert set(change.settings.models) == {"gpt-4o-mini", "gpt-4o"}
    assert change.settings.server == running.server  # kept until a restart


def test_an_identical_config_changes_nothing() -> None:
    running = load_config_text(BASE, source="a.yaml", env={})
    change = plan(running, load_config_text(BASE, source="a.yaml", env={}), "a.yaml")
    assert change.empty and change.needs_restart == ()


def test_a_merge_that_breaks_a_section_needing_a_restart_is_rejected_with_its_key_and_fix() -> None:
    with_cache = BASE + "  embed: [{provider: mock, model: text-embedding-3-small}]\n"
    cache = "cache: {default: {semantic: {embedding: embed}}}\n"
    running = load_config_text(with_cache + cache, source="a.yaml", env={})
    candidate = load_config_text(BASE + "cache: {default: {semantic: {embedding: local}}}\n", source="b.yaml", env={})
    with pytest.raises(ConfigError) as caught:
        plan(running, candidate, "b.yaml")
    text = str(caught.value)
    assert text.startswith("b.yaml: ") and "embed" in text and "Fix: " in text


def test_only_a_validly_signed_announcement_is_believed() -> None:
    key = signing_key("sk-test-master-key")
    assert verify(key, announcement(key, 7)) == ("config", 7)
    assert verify(key, announcement(key, 3, "limits")) == ("limits", 3)
    assert verify(signing_key("another-master-key"), announcement(key, 7)) is None  # an unknown sender
    forged = orjson.loads(announcement(key, 7))
    forged["version"] = 8  # a replayed signature on another version
    assert verify(key, orjson.dumps(forged)) is None
    forged = orjson.loads(announcement(key, 7))
    forged["kind"] = "limits"  # or of another kind
    assert verify(key, orjson.dumps(forged)) is None
    assert verify(key, announcement(key, 7, "shutdown")) is None  # a kind no worker knows
    for hostile in (b"", b"null", b"[]", b"{}", b'{"version": true, "sig": ""}', b"\xff\xfe", b"{" * (MAX_PAYLOAD + 1)):
        assert verify(key, hostile) is None
