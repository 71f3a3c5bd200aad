"""Two gateways sharing one PostgreSQL store and one Redis: two replicas of one deployment."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from tests.fakes.openai import FakeOpenAI
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url
from tests.support import RunningGateway, gateway_from_yaml

UPSTREAM_KEY = "sk-up"


@dataclass
class Replicas:
    a: RunningGateway
    b: RunningGateway
    prefix: str

    def __iter__(self) -> Iterator[RunningGateway]:
        return iter((self.a, self.b))


def replica_config(fake: FakeOpenAI, store: str, redis_at: str, prefix: str, extra: str = "") -> str:
    return f"""
store: {store}
redis: {{url: "{redis_at}", key_prefix: "{prefix}"}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {UPSTREAM_KEY}}}
models:
  gpt:
    deployments: [{{provider: up, model: gpt-4o-mini}}]
    cache: {{ttl_s: 600}}
  tally:
    deployments: [{{provider: up, model: gpt-4o-mini}}]
    cache: {{ttl_s: 600}}
  slow:
    deployments: [{{provider: up, model: slow-5000}}]
    cache: {{ttl_s: 600}}
{extra}"""


@pytest.fixture(scope="package")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY).start() as f:
        yield f


@pytest.fixture(scope="module")
def replicas(fake: FakeOpenAI) -> Iterator[Replicas]:
    at = redis_url()
    database = create_postgres_database()
    prefix = f"wgt-{uuid.uuid4().hex[:10]}:"
    try:
        config = replica_config(fake, postgres_url(database), at, prefix)
        with gateway_from_yaml(config) as a, gateway_from_yaml(config) as b:
            yield Replicas(a, b, prefix)
    finally:
        drop_postgres_database(database)
        client = redis.Redis.from_url(at)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
