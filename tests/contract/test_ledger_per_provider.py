"""Issue 4's acceptance over every provider type: a streamed and a non-streamed call each produce one ledger row
whose tokens equal the fake's usage and whose cost is the catalog's price of the upstream model."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.contract.conftest import Upstream
from tests.support import RunningGateway
from wardgate.core.usage import Usage
from wardgate.store.usage import by_request_id
from wardgate.usage.pricing import cost, load_catalog, to_nanousd

MESSAGES: Any = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to Ada."}]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_one_ledger_row_with_the_fakes_tokens_and_the_catalog_cost(
    openai_client: openai.OpenAI, gateway: RunningGateway, upstream: Upstream, stream: bool
) -> None:
    if stream:
        raw = openai_client.chat.completions.with_raw_response.create(
            model=upstream.model, messages=MESSAGES, stream=True
        )
        list(raw.parse())
    else:
        raw = openai_client.chat.completions.with_raw_response.create(model=upstream.model, messages=MESSAGES)
    reported = upstream.reported()
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, raw.headers["x-wardgate-request-id"]))
    assert row is not None
    tokens = (row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["cache_write_tokens"],
              row["reasoning_tokens"])  # fmt: skip
    assert tokens == (reported.prompt, reported.completion, reported.cached, reported.cache_write, reported.reasoning)
    provider, _, upstream_model = row["deployment"].partition("/")
    assert provider == upstream.type
    price = load_catalog().lookup(upstream.type, upstream_model)
    usage = Usage(reported.prompt, reported.completion, reported.cached, reported.cache_write, reported.reasoning)
    assert row["cost_nanousd"] == (to_nanousd(cost(usage, price)) if price is not None else 0)
    if upstream.type != "azure":  # an Azure deployment name is the operator's own: it needs a `price:` override
        assert price is not None and row["cost_nanousd"] > 0
    assert (row["stream"], row["status"]) == (stream, 200)
    assert not (row["details"] or {}).get("usage_estimated")
