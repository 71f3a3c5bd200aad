"""The built-in difficulty classifier and the classifier route: easy prompts to the cheap class, hard to frontier."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from tests.routing.helpers import FakeClock, RecordingSleep, make_call, new_state, route, target
from tests.routing.plugin import LengthScorer
from wardgate.config.routing import ClassifierConfig
from wardgate.routing.classifier import BuiltinClassifier, load_classifier
from wardgate.routing.execute import Executor
from wardgate.routing.stage import RouterStage

EASY = [
    "hi",
    "What is the capital of France?",
    "Translate 'good morning' to Spanish.",
    "Tell me a joke about cats.",
    "Summarize this in one sentence: the meeting moved to Tuesday.",
]
HARD = [
    "Prove that there are infinitely many primes, step by step, and explain why the argument is rigorous.",
    "Design a distributed rate limiter for a multi-region API gateway. Compare token bucket and sliding window "
    "approaches, analyze failure modes, and propose an architecture with trade-offs.",
    "Refactor this function and explain the trade-offs:\n```python\ndef f(xs):\n    out = []\n    for x in xs:\n"
    "        if x not in out:\n            out.append(x)\n    return out\n```",
    "Compute the integral of x^2 e^x from 0 to 1 and derive the general formula for the integral of x^n e^x.",
]


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


@pytest.mark.parametrize("text", EASY)
def test_small_talk_and_lookups_score_easy(text: str) -> None:
    assert BuiltinClassifier().score(chat(text)) < 0.3


@pytest.mark.parametrize("text", HARD)
def test_proofs_design_code_and_math_score_hard(text: str) -> None:
    assert BuiltinClassifier().score(chat(text)) > 0.6


def test_a_huge_prompt_is_read_in_part_and_still_scores() -> None:
    score = BuiltinClassifier().score(chat("lorem ipsum " * 100_000 + "\nNow prove the theorem step by step."))
    assert 0.0 < score <= 1.0


def test_requested_reasoning_effort_tools_and_legacy_prompts_count() -> None:
    classifier = BuiltinClassifier()
    plain = classifier.score(chat("Plan a trip"))
    assert classifier.score(chat("Plan a trip", reasoning_effort="high")) > plain
    assert classifier.score(chat("Plan a trip", tools=[{"type": "function"}])) > plain
    assert classifier.score({"prompt": "hi"}) < 0.3
    assert classifier.score({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}) < 0.3


def test_a_plug_in_is_loaded_by_import_path() -> None:
    scorer = load_classifier("tests.routing.plugin:LengthScorer")
    assert isinstance(scorer, LengthScorer)
    assert scorer.score({"max_tokens": 500}) == 1.0
    with pytest.raises(TypeError):
        load_classifier("tests.routing.plugin:NOT_A_SCORER")


async def test_the_classifier_route_picks_the_class_and_reports_it() -> None:
    clock = FakeClock()
    state = new_state(clock)
    small, big = target(state, "p/small", model_class="economy"), target(state, "p/big", model_class="frontier")
    config = ClassifierConfig(easy="economy", hard="frontier", threshold=0.5)
    r = route("m", [small, big], strategy="model_class", classifier=BuiltinClassifier(), classifier_config=config)
    executor = Executor({"m": r}, state, sleep=RecordingSleep(clock), rng=random.Random(0))
    for text, expected in ((EASY[0], "p/small"), (HARD[0], "p/big")):
        call = make_call("m", text=text)
        await RouterStage({"m": r}).before(call)
        await executor(call)
        assert call.deployment is not None and call.deployment.name == expected
        assert call.route is not None and call.route.difficulty is not None
        assert call.route.model_class == ("economy" if expected == "p/small" else "frontier")
        header = dict(call.response_headers)[b"x-wardgate-route"].decode()
        assert f"class={call.route.model_class}; difficulty={call.route.difficulty:.2f}" in header
    assert r.counters.classified == {"economy": 1, "frontier": 1}


class Broken:
    def score(self, body: Mapping[str, Any]) -> float:
        raise RuntimeError("bug in a plug-in")


def test_a_failing_plug_in_routes_as_unclassified(caplog: pytest.LogCaptureFixture) -> None:
    state = new_state()
    small, big = target(state, "p/small", model_class="economy"), target(state, "p/big", model_class="frontier")
    config = ClassifierConfig(easy="economy", hard="frontier")
    r = route("m", [small, big], classifier=Broken(), classifier_config=config, default_class="frontier")
    choice = r.choose(make_call("m"), 0.0, random.Random(0))
    assert choice.model_class == "frontier" and choice.difficulty is None
    assert r.counters.classifier_errors == 1
    assert "classifier of m failed" in caplog.text


def test_a_key_tagged_with_a_model_class_gets_that_class() -> None:
    state = new_state()
    small, big = target(state, "p/small", model_class="economy"), target(state, "p/big", model_class="frontier")
    r = route("m", [small, big], strategy="model_class", default_class="frontier")
    call = make_call("m", user="u")
    assert call.principal is not None
    call.principal.tags["model_class"] = "economy"
    assert r.choose(call, 0.0, random.Random(0)).order[0] is small
