"""Files and batches end to end: the official ``openai`` SDK → Wardgate → the files-and-batches fake.

Checked: uploads reach the provider whole, with the batch file's model rewritten to the deployment's; answers are
valid against OpenAI's schema; every id is its owner's only (another project gets 404, lists are filtered);
a batch's output is metered at settlement exactly as the fake reported it, priced with the batch discount, once
(a second retrieval adds nothing); budgets refuse a batch once spent; bad input gets OpenAI-shaped 4xx naming the
parameter; an upstream that cuts an upload gets a clean 502 and no usage.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.fakes.openai_files import FakeOpenAIFiles
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.api.batch_settle import settlement_id
from wardgate.core.usage import Usage
from wardgate.store.usage import by_request_id
from wardgate.usage.pricing import cost, load_catalog, to_nanousd

UPSTREAM_KEY = "sk-fake-upstream-files"
CACHED, REASONING = 3, 2


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIFiles]:
    with FakeOpenAIFiles(UPSTREAM_KEY, cached_tokens=CACHED, reasoning_tokens=REASONING).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAIFiles) -> Iterator[RunningGateway]:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {UPSTREAM_KEY}}}
  other: {{type: openai, base_url: "{fake.url}", api_key: {UPSTREAM_KEY}}}
files: {{provider: up, settle_every_s: 0}}  # retrievals settle batches here, not the poller
models:
  mini: [{{provider: up, model: gpt-4o-mini}}]
  elsewhere: [{{provider: other, model: gpt-4o-mini}}]
budgets:
  - {{name: batchcap, scope: project, match: capped, window: day, limit_usd: 0.000001, cap: hard}}
"""
    with gateway_from_yaml(config) as gw:
        yield gw


def make_key(gateway: RunningGateway, project: str) -> str:
    async def make() -> str:
        p = await gateway.worker.tenancy.create_project(project)
        secret, _ = await gateway.worker.keys.create(p.id)
        return secret

    return gateway.run(make())


@pytest.fixture(scope="module")
def keys(gateway: RunningGateway) -> dict[str, str]:
    return {name: make_key(gateway, name) for name in ("alpha", "beta", "capped")}


def client_for(gateway: RunningGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url, api_key=key, max_retries=0)


def batch_file(model: str, prompts: list[str]) -> bytes:
    lines = [
        {"custom_id": f"r{n}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": model, "messages": [{"role": "user", "content": text}]}}
        for n, text in enumerate(prompts)
    ]  # fmt: skip
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def ledger_row(gateway: RunningGateway, request_id: str) -> dict[str, Any] | None:
    gateway.run(gateway.worker.ledger.flush())
    return gateway.run(by_request_id(gateway.worker.engine, request_id))


def test_a_batch_runs_and_its_output_is_metered_once_with_the_discount(
    gateway: RunningGateway, fake: FakeOpenAIFiles, keys: dict[str, str]
) -> None:
    with client_for(gateway, keys["alpha"]) as client:
        uploaded = client.files.create(file=("in.jsonl", batch_file("mini", ["hi there", "one two three"])),
                                       purpose="batch")  # fmt: skip
        validate("OpenAIFile", uploaded.model_dump(mode="json", exclude_unset=True))
        sent = fake.received[uploaded.id]
        assert all(orjson.loads(line)["body"]["model"] == "gpt-4o-mini" for line in sent.splitlines())
        batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                      completion_window="24h")  # fmt: skip
        assert batch.status == "in_progress"
        done = client.batches.retrieve(batch.id)
        assert done.status == "completed" and done.output_file_id is not None
        validate("Batch", done.model_dump(mode="json", exclude_unset=True))
        content = client.files.content(done.output_file_id).read()
        assert len(content.splitlines()) == 2
        client.batches.retrieve(batch.id)  # settled already: nothing more is metered
    row = ledger_row(gateway, settlement_id(batch.id))
    assert row is not None and row["operation"] == "batch_output" and row["billable"]
    expected = fake.usage[batch.id]
    assert row["input_tokens"] == expected["prompt_tokens"]
    assert row["output_tokens"] == expected["completion_tokens"]
    assert row["cached_tokens"] == expected["cached_tokens"] == 2 * CACHED
    assert row["reasoning_tokens"] == expected["reasoning_tokens"] == 2 * REASONING
    price = load_catalog().lookup("openai", "gpt-4o-mini")
    assert price is not None and price.batch_discount == Decimal("0.5")
    usage = Usage(row["input_tokens"], row["output_tokens"], row["cached_tokens"], 0, row["reasoning_tokens"])
    assert row["cost_nanousd"] == to_nanousd(cost(usage, price, batch=True))
    assert row["cost_nanousd"] * 2 in range(to_nanousd(cost(usage, price)) - 2, to_nanousd(cost(usage, price)) + 3)
    assert row["details"]["batch"] == {"id": batch.id, "requests": 2, "failed": 0}


def test_files_and_batches_belong_to_their_project(gateway: RunningGateway, keys: dict[str, str]) -> None:
    with client_for(gateway, keys["alpha"]) as alpha, client_for(gateway, keys["beta"]) as beta:
        mine = alpha.files.create(file=("notes.txt", b"hello"), purpose="assistants")
        batch_input = alpha.files.create(file=("b.jsonl", batch_file("mini", ["x"])), purpose="batch")
        batch = alpha.batches.create(input_file_id=batch_input.id, endpoint="/v1/chat/completions",
                                     completion_window="24h")  # fmt: skip
        assert alpha.files.retrieve(mine.id).id == mine.id
        assert mine.id in {f.id for f in alpha.files.list()}
        assert mine.id not in {f.id for f in beta.files.list()}
        assert batch.id not in {b.id for b in beta.batches.list()}
        for attempt in (
            lambda: beta.files.retrieve(mine.id),
            lambda: beta.files.content(mine.id),
            lambda: beta.files.delete(mine.id),
            lambda: beta.batches.retrieve(batch.id),
            lambda: beta.batches.cancel(batch.id),
            lambda: beta.batches.create(input_file_id=batch_input.id, endpoint="/v1/chat/completions",
                                        completion_window="24h"),
        ):  # fmt: skip
            with pytest.raises(openai.NotFoundError):
                attempt()
        assert alpha.batches.cancel(batch.id).status == "cancelled"
        assert alpha.files.delete(mine.id).deleted
        with pytest.raises(openai.NotFoundError):
            alpha.files.retrieve(mine.id)


def test_a_spent_budget_refuses_the_next_batch(gateway: RunningGateway, keys: dict[str, str]) -> None:
    with client_for(gateway, keys["capped"]) as client:
        uploaded = client.files.create(file=("in.jsonl", batch_file("mini", ["a b c d e f"] * 3)), purpose="batch")
        first = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                      completion_window="24h")  # fmt: skip
        client.batches.retrieve(first.id)  # completed: settled, over the tiny cap (the spend happened: recorded)
        row = ledger_row(gateway, settlement_id(first.id))
        assert row is not None and row["cost_nanousd"] > 1000
        with pytest.raises(openai.RateLimitError) as refused:
            client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")  # fmt: skip
        assert refused.value.code == "budget_exceeded"


@pytest.mark.parametrize(
    ("purpose", "content", "param", "fragment"),
    [
        (None, b"x", "purpose", "purpose"),
        ("nonsense", b"x", "purpose", "purpose"),
        ("batch", b"not json\n", "file", "not JSON"),
        ("batch", b'{"custom_id": "a"}\n', "file", "not a request"),
        ("batch", batch_file("nosuch", ["x"]), "file", "no deployment"),
        ("batch", batch_file("elsewhere", ["x"]), "file", "no deployment on the files provider"),
        ("batch", batch_file("mini", ["x"]) + batch_file("elsewhere", ["y"]), "file", "another model"),
        ("batch", b"\n\n", "file", "no request"),
    ],
)
def test_bad_uploads_get_openai_errors_naming_the_parameter(
    gateway: RunningGateway, purpose: str | None, content: bytes, param: str, fragment: str
) -> None:
    data = {"purpose": purpose} if purpose is not None else {}
    answer = httpx.post(gateway.url + "/files", data=data, files={"file": ("in.jsonl", io.BytesIO(content))},
                        headers={"authorization": f"Bearer {MASTER_KEY}"})  # fmt: skip
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and fragment in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"endpoint": "/v1/chat/completions", "completion_window": "24h"}, "input_file_id"),
        ({"input_file_id": "file-x", "endpoint": "/v1/nope", "completion_window": "24h"}, "endpoint"),
        ({"input_file_id": "file-x", "endpoint": "/v1/chat/completions", "completion_window": "1h"},
         "completion_window"),
        ({"input_file_id": "file-unknown", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
         "input_file_id"),
    ],
)  # fmt: skip
def test_bad_batches_get_openai_errors(gateway: RunningGateway, body: dict[str, Any], param: str) -> None:
    answer = httpx.post(gateway.url + "/batches", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"})
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]["param"] == param


def test_a_wrong_content_type_and_hostile_paths_are_clean_errors(gateway: RunningGateway) -> None:
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    answer = httpx.post(gateway.url + "/files", json={"purpose": "batch"}, headers=auth)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "file"
    hostile = [("GET", "/files/%2e%2e"), ("GET", "/files/" + "x" * 500), ("PUT", "/files/file-1"),
               ("GET", "/files/a/b"), ("POST", "/batches/b/nope"), ("GET", "/batches/" + "\u00e9")]  # fmt: skip
    for method, path in hostile:
        answer = httpx.request(method, gateway.url + path, headers=auth)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(gateway.url + "/files").status_code == 401


def test_an_upload_cut_by_the_upstream_is_a_502_and_keeps_nothing(
    gateway: RunningGateway, fake: FakeOpenAIFiles
) -> None:
    fake.cut_uploads = True
    try:
        answer = httpx.post(gateway.url + "/files", data={"purpose": "assistants"},
                            files={"file": ("big.bin", io.BytesIO(b"\x01" * (4 * 1024 * 1024)))},
                            headers={"authorization": f"Bearer {MASTER_KEY}"})  # fmt: skip
    finally:
        fake.cut_uploads = False
    assert answer.status_code == 502, answer.text
    assert answer.json()["error"]["type"] == "api_error"


def test_without_files_provider_the_routes_say_so() -> None:
    with gateway_from_yaml("providers: {}\nmodels: {}\n") as gw:
        answer = httpx.get(gw.url + "/files", headers={"authorization": f"Bearer {MASTER_KEY}"})
    assert answer.status_code == 404 and "files.provider" in answer.json()["error"]["message"]
