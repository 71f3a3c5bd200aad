"""``POST /v1/rerank`` (Cohere's shape) end to end, on Cohere's own API and on a Cohere-compatible server (vLLM).

Golden bodies: what each provider receives is checked whole. Metering: Cohere bills search units, which land in the
ledger row (``details.search_units``) and its cost at the catalog's ``search_units`` price; a Cohere-compatible
server reports tokens, priced per token. A budget caps reranking like any call.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.fakes.cohere import FakeCohere
from tests.fakes.openai import FakeOpenAI
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.store.usage import by_request_id
from wardgate.usage.pricing import to_nanousd

COHERE_KEY = "co-fake-rerank-key"
DOCUMENTS = ["green apple", "red apple pie", "a fast car"]


@pytest.fixture(scope="module")
def cohere() -> Iterator[FakeCohere]:
    with FakeCohere(api_key=COHERE_KEY).start() as f:
        yield f


@pytest.fixture(scope="module")
def compatible() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-vllm").start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(cohere: FakeCohere, compatible: FakeOpenAI) -> Iterator[RunningGateway]:
    config = f"""
providers:
  co: {{type: cohere, base_url: "{cohere.url}", api_key: {COHERE_KEY}}}
  local: {{type: vllm, base_url: "{compatible.url}", api_key: sk-vllm}}
  chat-only: {{type: perplexity, base_url: "{compatible.url}", api_key: sk-vllm}}
models:
  rr: [{{provider: co, model: rerank-v3.5}}]
  local-rr: [{{provider: local, model: BAAI/bge-reranker-v2-m3, price: {{input: 0.05}}}}]
  sonar: [{{provider: chat-only, model: sonar}}]
budgets:
  - {{name: searches, scope: project, match: reranker, window: day, limit_usd: 0.003, cap: hard}}
"""
    with gateway_from_yaml(config) as gw:
        yield gw


def rerank(gateway: RunningGateway, body: dict[str, Any], key: str = MASTER_KEY) -> httpx.Response:
    return httpx.post(gateway.url + "/rerank", json=body, headers={"authorization": f"Bearer {key}"})


def ledger_row(gateway: RunningGateway, answer: httpx.Response) -> dict[str, Any]:
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, answer.headers["x-wardgate-request-id"]))
    assert row is not None
    return row


def test_cohere_reranks_and_the_search_units_are_billed(gateway: RunningGateway, cohere: FakeCohere) -> None:
    body = {"model": "rr", "query": "red apple", "documents": DOCUMENTS, "top_n": 2, "return_documents": True}
    answer = rerank(gateway, body)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["index"], r["relevance_score"], r["document"]["text"]) for r in results] == [
        (1, 1.0, "red apple pie"),
        (0, 0.5, "green apple"),
    ]
    assert cohere.requests[-1].json == {"model": "rerank-v3.5", "query": "red apple", "documents": DOCUMENTS,
                                        "top_n": 2}  # fmt: skip
    row = ledger_row(gateway, answer)
    assert (row["operation"], row["deployment"], row["status"]) == ("rerank", "co/rerank-v3.5", 200)
    assert row["input_tokens"] == 2 * 3 + 2 + 3 + 3  # the query's words per document, and each document's
    assert row["details"]["search_units"] == 1
    assert row["cost_nanousd"] == to_nanousd(Decimal("2.00") / 1000)  # one search at $2 per 1,000


def test_v1_documents_become_v2_strings(gateway: RunningGateway, cohere: FakeCohere) -> None:
    answer = rerank(gateway, {"model": "rr", "query": "car", "documents": [{"text": t} for t in DOCUMENTS]})
    assert answer.status_code == 200 and answer.json()["results"][0]["index"] == 2
    assert cohere.requests[-1].json["documents"] == DOCUMENTS


def test_a_cohere_compatible_server_gets_the_body_as_sent_and_its_tokens_are_priced(
    gateway: RunningGateway, compatible: FakeOpenAI
) -> None:
    body = {"model": "local-rr", "query": "fast car", "documents": DOCUMENTS, "return_documents": True}
    answer = rerank(gateway, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0] == {"index": 2, "relevance_score": 1.0, "document": {"text": "a fast car"}}
    assert compatible.requests[-1].json == {**body, "model": "BAAI/bge-reranker-v2-m3"}
    assert compatible.requests[-1].path == "/v1/rerank"
    row = ledger_row(gateway, answer)
    tokens = 2 * 3 + 2 + 3 + 3
    assert (row["input_tokens"], row["output_tokens"]) == (tokens, 0)
    assert row["cost_nanousd"] == to_nanousd(Decimal("0.05") * tokens / 1_000_000)


def test_a_budget_caps_reranking(gateway: RunningGateway) -> None:
    async def key() -> str:
        project = await gateway.worker.tenancy.create_project("reranker")
        return (await gateway.worker.keys.create(project.id))[0]

    secret = gateway.run(key())
    body = {"model": "rr", "query": "apple", "documents": DOCUMENTS}
    assert [rerank(gateway, body, secret).status_code for _ in range(2)] == [200, 200]  # $0.004 spent of $0.003
    refused = rerank(gateway, body, secret)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "rr", "documents": DOCUMENTS}, 400, "query"),
        ({"model": "rr", "query": "x", "documents": []}, 400, "documents"),
        ({"model": "rr", "query": "x", "documents": [5]}, 400, "documents[0]"),
        ({"model": "rr", "query": "x", "documents": DOCUMENTS, "top_n": -1}, 400, "top_n"),
        ({"model": "rr", "query": "x", "documents": DOCUMENTS, "rank_fields": ["a"]}, 400, "rank_fields"),
        ({"model": "nope", "query": "x", "documents": DOCUMENTS}, 404, "model"),
        ({"model": "sonar", "query": "x", "documents": DOCUMENTS}, 400, "model"),
    ],
)
def test_bad_rerank_requests_get_clear_errors(
    gateway: RunningGateway, body: dict[str, Any], status: int, param: str
) -> None:
    answer = rerank(gateway, body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and set(error) == {"message", "type", "param", "code"}
