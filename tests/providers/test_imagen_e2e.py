"""OpenAI image generations on Imagen, on Vertex AI and on the Gemini API: the official SDK → Wardgate → the Google
fake. Checked: the exact wire bodies (golden), the answers valid against OpenAI's schema, the ledger's images and
cost equal to what the fake returned × the catalog's per-image price, images withheld by the safety filter not
billed, a budget that caps image spend, and bad input refused with an OpenAI error naming the parameter."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes.gemini import FakeGemini
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.core.usage import Usage
from wardgate.store.usage import by_request_id
from wardgate.usage.pricing import cost, load_catalog, to_nanousd

API_KEY = "AIzaSyFakeGeminiUpstreamKey000000000000"
VERTEX_PATH = "/v1/projects/fake-project/locations/us-central1/publishers/google/models/imagen-4.0-generate-001:predict"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeGemini]:
    with FakeGemini(API_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream: FakeGemini, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    key_file: Path = upstream.write_service_account(tmp_path_factory.mktemp("vertex") / "sa.json")
    config = f"""
providers:
  gemini: {{type: gemini, api_key: "{API_KEY}", base_url: "{upstream.url}"}}
  vertex:
    type: vertex
    project: fake-project
    location: us-central1
    credentials_file: "{key_file}"
    base_url: "{upstream.vertex_url}"
models:
  imagen: [{{provider: vertex, model: imagen-4.0-generate-001}}]
  imagen-fast: [{{provider: gemini, model: imagen-4.0-fast-generate-001}}]
budgets:
  - {{name: pictures, scope: project, match: painter, window: day, limit_usd: 0.1, cap: hard}}
"""
    with gateway_from_yaml(config) as gw:
        yield gw


def client_for(gateway: RunningGateway, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url, api_key=key, max_retries=0)


def ledger(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, request_id))
    assert row is not None
    return row


def test_vertex_imagen_golden_body_answer_and_metering(gateway: RunningGateway, upstream: FakeGemini) -> None:
    with client_for(gateway) as client:
        raw = client.images.with_raw_response.generate(
            model="imagen", prompt="a red fox", n=3, size="1792x1024", output_format="jpeg"
        )
    validate("ImagesResponse", raw.http_response.json())
    answer = raw.parse()
    assert answer.data is not None and len(answer.data) == 3
    assert [base64.b64decode(d.b64_json or "") for d in answer.data] == [
        f"image/jpeg:a red fox:{i}".encode() for i in range(3)
    ]
    sent = upstream.last
    assert sent.path == VERTEX_PATH and sent.headers["authorization"].startswith("Bearer ya29.fake-")
    assert sent.json == {
        "instances": [{"prompt": "a red fox"}],
        "parameters": {"sampleCount": 3, "aspectRatio": "16:9", "outputOptions": {"mimeType": "image/jpeg"}},
    }
    row = ledger(gateway, raw.headers["x-request-id"])
    assert row["operation"] == "images" and row["details"]["images"] == 3
    price = load_catalog().lookup("vertex", "imagen-4.0-generate-001")
    assert price is not None and price.image_price("16:9/standard") == Decimal("0.04")
    assert row["cost_nanousd"] == to_nanousd(cost(Usage(images=3, image_kind="16:9/standard"), price)) == 120_000_000


def test_gemini_api_imagen_golden_body_and_withheld_images_are_not_billed(
    gateway: RunningGateway, upstream: FakeGemini
) -> None:
    with client_for(gateway) as client:
        raw = client.images.with_raw_response.generate(model="imagen-fast", prompt="half-forbidden cat", n=4)
    answer = raw.parse()
    assert answer.data is not None and len(answer.data) == 2
    sent = upstream.last
    assert sent.path == "/v1beta/models/imagen-4.0-fast-generate-001:predict"
    assert sent.headers["x-goog-api-key"] == API_KEY
    parameters = {"sampleCount": 4, "aspectRatio": "1:1"}
    assert sent.json == {"instances": [{"prompt": "half-forbidden cat"}], "parameters": parameters}
    row = ledger(gateway, raw.headers["x-request-id"])
    assert row["details"]["images"] == 2 and row["cost_nanousd"] == 2 * 20_000_000


def test_every_image_withheld_is_a_content_policy_400(gateway: RunningGateway) -> None:
    with client_for(gateway) as client, pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="imagen", prompt="forbidden thing", n=2)
    assert refused.value.code == "content_policy_violation"


@pytest.mark.parametrize(
    ("extra", "param"),
    [({"n": 5}, "n"), ({"response_format": "url"}, "response_format"), ({"size": "big"}, "size"),
     ({"output_format": "webp"}, "output_format")],
)  # fmt: skip
def test_what_imagen_cannot_do_is_a_400_naming_the_parameter(
    gateway: RunningGateway, extra: dict[str, Any], param: str
) -> None:
    with client_for(gateway) as client, pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="imagen", prompt="x", **extra)
    assert refused.value.param == param


def test_image_edits_are_not_offered_on_imagen(gateway: RunningGateway) -> None:
    with client_for(gateway) as client, pytest.raises(openai.APIStatusError) as refused:
        client.images.edit(model="imagen", image=("a.png", b"\x89PNG"), prompt="x")
    assert 400 <= refused.value.status_code < 500


def test_a_budget_caps_imagen_spend(gateway: RunningGateway) -> None:
    async def make() -> str:
        project = await gateway.worker.tenancy.create_project("painter")
        return (await gateway.worker.keys.create(project.id))[0]

    key = gateway.run(make())
    with client_for(gateway, key) as client:
        for _ in range(3):  # 3 × 0.04 USD: 0.12, past the 0.10 cap on the third
            client.images.generate(model="imagen", prompt="a tree", n=1)
        with pytest.raises(openai.RateLimitError) as refused:
            client.images.generate(model="imagen", prompt="one more", n=1)
    assert refused.value.code == "budget_exceeded"
