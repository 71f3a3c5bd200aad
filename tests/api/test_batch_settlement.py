"""The batch settlement poller across replicas: two gateways sharing the real PostgreSQL and Redis; a batch that nobody
retrieves is settled by the pollers' rounds, exactly once (both replicas run a round at once: one wins the lease,
the output is downloaded once, one ledger row), with the batch discount, charged to the key that created the batch;
a budget spent by settled batches refuses the next batch; a failed metering gives the lease back and the next
round settles it. The background loop is off (``settle_every_s: 0``): the test runs the rounds itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import openai
import orjson
import pytest

from tests.fakes.openai_files import FakeOpenAIFiles
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url
from tests.support import RunningGateway, gateway_from_yaml
from wardgate.api.batch_settle import settlement_id
from wardgate.core.usage import Usage
from wardgate.store.usage import by_request_id
from wardgate.usage.pricing import cost, load_catalog, to_nanousd

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
CACHED, REASONING = 4, 3


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIFiles]:
    with FakeOpenAIFiles("sk-up", cached_tokens=CACHED, reasoning_tokens=REASONING).start() as f:
        yield f


@pytest.fixture(scope="module")
def replicas(fake: FakeOpenAIFiles) -> Iterator[tuple[RunningGateway, RunningGateway]]:
    database = create_postgres_database()
    config = f"""
store: "{postgres_url(database)}"
redis: {{url: "{redis_url()}", key_prefix: "wgbatch-{uuid.uuid4().hex[:8]}:"}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
files: {{provider: up, settle_every_s: 0}}
models:
  mini: [{{provider: up, model: gpt-4o-mini}}]
budgets:
  - {{name: batchcap, scope: project, match: capped, window: day, limit_usd: 0.000001, cap: hard}}
"""
    try:
        with gateway_from_yaml(config) as first, gateway_from_yaml(config) as second:
            yield first, second
    finally:
        drop_postgres_database(database)


def make_key(gateway: RunningGateway, project: str) -> tuple[str, str]:
    async def make() -> tuple[str, str]:
        p = await gateway.worker.tenancy.create_project(project)
        secret, record = await gateway.worker.keys.create(p.id)
        return secret, record.id

    return gateway.run(make())


def start_batch(gateway: RunningGateway, key: str, prompts: list[str]) -> str:
    lines = [{"custom_id": f"r{n}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "mini", "messages": [{"role": "user", "content": text}]}}
             for n, text in enumerate(prompts)]  # fmt: skip
    with openai.OpenAI(base_url=gateway.url, api_key=key, max_retries=0) as client:
        uploaded = client.files.create(file=("in.jsonl", b"".join(orjson.dumps(x) + b"\n" for x in lines)),
                                       purpose="batch")  # fmt: skip
        batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                      completion_window="24h")  # fmt: skip
    return batch.id


def rounds_at_once(replicas: tuple[RunningGateway, ...]) -> int:
    with ThreadPoolExecutor(len(replicas)) as pool:
        return sum(pool.map(lambda r: r.run(r.app.batch_settler.round()), replicas))


def ledger_row(replicas: tuple[RunningGateway, ...], request_id: str) -> dict[str, Any] | None:
    for replica in replicas:
        replica.run(replica.worker.ledger.flush())
    first = replicas[0]
    return first.run(by_request_id(first.worker.engine, request_id))


def test_a_batch_nobody_retrieves_is_settled_once_by_the_pollers(
    replicas: tuple[RunningGateway, RunningGateway], fake: FakeOpenAIFiles
) -> None:
    a, b = replicas
    key, key_id = make_key(a, "poller")
    batch_id = start_batch(b, key, ["hello there", "one two three four"])
    assert rounds_at_once(replicas) == 1  # the fake completes the batch on its first retrieval
    assert rounds_at_once(replicas) == 0  # settled: nothing more
    output = fake.batches[batch_id]["output_file_id"]
    download = ("GET", f"/v1/files/{output}/content")
    assert fake.calls.count(download) == 1
    row = ledger_row(replicas, settlement_id(batch_id))
    assert row is not None and row["operation"] == "batch_output" and row["billable"]
    assert row["key_id"] == key_id and row["principal_kind"] == "key"
    expected = fake.usage[batch_id]
    assert (row["input_tokens"], row["output_tokens"]) == (expected["prompt_tokens"], expected["completion_tokens"])
    assert row["cached_tokens"] == expected["cached_tokens"] == 2 * CACHED
    assert row["reasoning_tokens"] == expected["reasoning_tokens"] == 2 * REASONING
    price = load_catalog().lookup("openai", "gpt-4o-mini")
    assert price is not None and price.batch_discount == Decimal("0.5")
    usage = Usage(row["input_tokens"], row["output_tokens"], row["cached_tokens"], 0, row["reasoning_tokens"])
    assert row["cost_nanousd"] == to_nanousd(cost(usage, price, batch=True))
    with openai.OpenAI(base_url=a.url, api_key=key, max_retries=0) as client:
        assert client.batches.retrieve(batch_id).status == "completed"  # a retrieval after it adds nothing
        assert client.files.content(output).read().count(b"\n") == 2  # the output file is the owner's
    assert ledger_row(replicas, settlement_id(batch_id)) == row


def test_batches_settled_by_the_poller_cap_the_budget(replicas: tuple[RunningGateway, RunningGateway]) -> None:
    a, b = replicas
    key, _ = make_key(a, "capped")
    start_batch(a, key, ["a b c d e f"] * 3)
    assert rounds_at_once(replicas) == 1
    for replica in replicas:  # the budget counters are settled in Redis behind the answer: wait for them
        replica.run(replica.worker.limits.drain())
    with pytest.raises(openai.RateLimitError) as refused:
        start_batch(b, key, ["again"])
    assert refused.value.code == "budget_exceeded"


def test_a_failed_metering_gives_the_lease_back(
    replicas: tuple[RunningGateway, RunningGateway], fake: FakeOpenAIFiles
) -> None:
    a, b = replicas
    key, _ = make_key(a, "retry")
    batch_id = start_batch(a, key, ["cut me"])
    fake.cut_downloads = True
    try:
        assert rounds_at_once(replicas) == 0  # the download is cut: not settled, the lease is released
    finally:
        fake.cut_downloads = False
    assert ledger_row(replicas, settlement_id(batch_id)) is None
    assert rounds_at_once(replicas) == 1
    row = ledger_row(replicas, settlement_id(batch_id))
    assert row is not None and row["input_tokens"] == fake.usage[batch_id]["prompt_tokens"]


def test_a_batch_that_ended_without_output_is_settled_with_no_row(
    replicas: tuple[RunningGateway, RunningGateway], fake: FakeOpenAIFiles
) -> None:
    a, _ = replicas
    key, _ = make_key(a, "failing")
    batch_id = start_batch(a, key, ["x"])
    fake.batches[batch_id].update(status="failed", output_file_id=None)
    assert rounds_at_once(replicas) == 1  # settled, with nothing to meter
    assert ledger_row(replicas, settlement_id(batch_id)) is None
    assert a.run(a.worker.provider_objects.unsettled_batches("up", 100)) == []


def test_a_batch_the_provider_no_longer_knows_leaves_the_round(
    replicas: tuple[RunningGateway, RunningGateway], fake: FakeOpenAIFiles
) -> None:
    a, _ = replicas
    key, _ = make_key(a, "forgotten")
    batch_id = start_batch(a, key, ["x"])
    del fake.batches[batch_id]  # the provider answers 404 for it from now on
    assert rounds_at_once(replicas) == 0
    assert a.run(a.worker.provider_objects.unsettled_batches("up", 100)) == []
    assert ledger_row(replicas, settlement_id(batch_id)) is None
