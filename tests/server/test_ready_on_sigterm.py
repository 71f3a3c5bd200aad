"""Readiness turns 503 the moment SIGTERM arrives (issue 20): the gateway chains its own handler before uvicorn's,
which still runs (it starts the drain). The chain is installed from the main thread, as in a real worker."""

from __future__ import annotations

import signal
from types import FrameType

import httpx

from tests.support import gateway_from_yaml

CONFIG = "providers:\n  mock: {type: mock}\nmodels:\n  gpt-4o-mini: [{provider: mock, model: gpt-4o-mini}]\n"


def test_readiness_is_503_once_sigterm_arrives_and_the_previous_handler_still_runs() -> None:
    seen: list[int] = []

    def uvicorn_like(sig: int, frame: FrameType | None) -> None:
        seen.append(sig)

    original = signal.signal(signal.SIGTERM, uvicorn_like)
    try:
        with gateway_from_yaml(CONFIG) as gateway:
            assert httpx.get(gateway.root + "/health/ready", timeout=10).status_code == 200
            gateway.app._chain_sigterm()  # what startup does in a worker's main thread
            signal.raise_signal(signal.SIGTERM)
            assert seen == [signal.SIGTERM] and gateway.app.draining
            answer = httpx.get(gateway.root + "/health/ready", timeout=10)
            assert answer.status_code == 503 and answer.json() == {"status": "draining"}
            assert httpx.get(gateway.root + "/health/live", timeout=10).status_code == 200  # alive while it drains
    finally:
        signal.signal(signal.SIGTERM, original)
