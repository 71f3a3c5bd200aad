"""Files and batches across replicas: two gateways sharing the real PostgreSQL. A file uploaded on one is its
project's on the other; a batch created on one and retrieved on both at once is metered exactly once (one replica
wins the settlement claim: the output is downloaded for metering once, one ledger row)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import openai
import orjson
import pytest

from tests.fakes.openai_files import FakeOpenAIFiles
from tests.services import create_postgres_database, drop_postgres_database, postgres_url
from tests.support import RunningGateway, gateway_from_yaml
from wardgate.api.batch_settle import settlement_id
from wardgate.store.usage import by_request_id

pytestmark = [pytest.mark.postgres]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIFiles]:
    with FakeOpenAIFiles("sk-up").start() as f:
        yield f


@pytest.fixture(scope="module")
def replicas(fake: FakeOpenAIFiles) -> Iterator[tuple[RunningGateway, RunningGateway]]:
    database = create_postgres_database()
    config = f"""
store: "{postgres_url(database)}"
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
files: {{provider: up, settle_every_s: 0}}  # retrievals settle batches here, not the poller
models:
  mini: [{{provider: up, model: gpt-4o-mini}}]
"""
    try:
        with gateway_from_yaml(config) as first, gateway_from_yaml(config) as second:
            yield first, second
    finally:
        drop_postgres_database(database)


def test_a_batch_is_owned_everywhere_and_settled_once(
    replicas: tuple[RunningGateway, RunningGateway], fake: FakeOpenAIFiles
) -> None:
    a, b = replicas

    async def keys() -> tuple[str, str]:
        project = await a.worker.tenancy.create_project("batcher")
        other = await a.worker.tenancy.create_project("bystander")
        return (await a.worker.keys.create(project.id))[0], (await a.worker.keys.create(other.id))[0]

    key, other_key = a.run(keys())
    line = {"custom_id": "1", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "mini", "messages": [{"role": "user", "content": "hello"}]}}  # fmt: skip
    with (
        openai.OpenAI(base_url=a.url, api_key=key, max_retries=0) as on_a,
        openai.OpenAI(base_url=b.url, api_key=key, max_retries=0) as on_b,
        openai.OpenAI(base_url=b.url, api_key=other_key, max_retries=0) as stranger,
    ):
        uploaded = on_a.files.create(file=("in.jsonl", orjson.dumps(line) + b"\n"), purpose="batch")
        with pytest.raises(openai.NotFoundError):
            stranger.files.retrieve(uploaded.id)
        batch = on_b.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                    completion_window="24h")  # fmt: skip
        clients = [on_a, on_b] * 4
        with ThreadPoolExecutor(len(clients)) as pool:
            seen = list(pool.map(lambda client: client.batches.retrieve(batch.id).status, clients))
        assert set(seen) <= {"in_progress", "completed"} and "completed" in seen
        output = on_a.batches.retrieve(batch.id).output_file_id
    downloads = [call for call in fake.calls if call == ("GET", f"/v1/files/{output}/content")]
    assert len(downloads) == 1
    for replica in (a, b):
        replica.run(replica.worker.ledger.flush())
    row = a.run(by_request_id(a.worker.engine, settlement_id(batch.id)))
    assert row is not None and row["input_tokens"] == fake.usage[batch.id]["prompt_tokens"]
