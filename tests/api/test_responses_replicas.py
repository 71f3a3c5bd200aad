"""Responses API state across replicas: two gateways sharing the real PostgreSQL (nothing else is shared; the
response store keeps no copy in memory). A response created on one is continued, listed, read and deleted on the
other, and stays invisible to another project there too."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.services import create_postgres_database, drop_postgres_database, postgres_url
from tests.support import RunningGateway, gateway_from_yaml

pytestmark = [pytest.mark.postgres]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up").start() as f:
        yield f


@pytest.fixture(scope="module")
def replicas(fake: FakeOpenAI) -> Iterator[tuple[RunningGateway, RunningGateway]]:
    database = create_postgres_database()
    config = f"""
store: "{postgres_url(database)}"
providers:
  up: {{type: openai_compatible, base_url: "{fake.url}", api_key: sk-up}}  # no native Responses API: translated
models:
  gpt: [{{provider: up, model: gpt-4o-mini}}]
"""
    try:
        with gateway_from_yaml(config) as first, gateway_from_yaml(config) as second:
            yield first, second
    finally:
        drop_postgres_database(database)


def test_a_response_made_on_one_replica_lives_on_the_other(replicas: tuple[RunningGateway, RunningGateway]) -> None:
    a, b = replicas

    async def keys() -> tuple[str, str]:
        project = await a.worker.tenancy.create_project("replicated")
        other = await a.worker.tenancy.create_project("elsewhere")
        return (await a.worker.keys.create(project.id))[0], (await a.worker.keys.create(other.id))[0]

    key, other_key = a.run(keys())
    with (
        openai.OpenAI(base_url=a.url, api_key=key, max_retries=0) as on_a,
        openai.OpenAI(base_url=b.url, api_key=key, max_retries=0) as on_b,
    ):
        with on_a.responses.stream(model="gpt", input="made on a") as stream:
            first = stream.get_final_response()
        second = on_b.responses.create(model="gpt", input="continued on b", previous_response_id=first.id)
        assert second.output_text == "echo: continued on b"
        assert on_a.responses.retrieve(second.id).previous_response_id == first.id
        assert [item.id for item in on_b.responses.input_items.list(first.id)] == [
            item.id for item in on_a.responses.input_items.list(first.id)
        ]
        with (
            openai.OpenAI(base_url=b.url, api_key=other_key, max_retries=0) as stranger,
            pytest.raises(openai.NotFoundError),
        ):
            stranger.responses.retrieve(first.id)
        on_b.responses.delete(first.id)
        with pytest.raises(openai.NotFoundError):
            on_a.responses.retrieve(first.id)
