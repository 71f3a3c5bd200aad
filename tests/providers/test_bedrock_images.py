"""OpenAI image generations on Bedrock's image models (Titan Image Generator, Stability), through a real gateway in
front of the fake Bedrock Runtime (every request's SigV4 signature verified), driven by the official SDK. Checked:
the exact InvokeModel bodies (golden), answers valid against OpenAI's schema, the ledger's images and cost equal to
what the fake returned × the catalog's per-image price, filtered images not billed, a budget that caps image spend,
and bad input refused with an OpenAI error naming the parameter."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from tests.fakes.bedrock import ACCESS_KEY_ID, SECRET_ACCESS_KEY, FakeBedrock
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.core.usage import Usage
from wardgate.store.usage import by_request_id
from wardgate.usage.pricing import cost, load_catalog, to_nanousd

TITAN = "amazon.titan-image-generator-v2:0"
STABILITY = "stability.sd3-5-large-v1:0"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBedrock]:
    with FakeBedrock().start() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(fake: FakeBedrock) -> Iterator[RunningGateway]:
    config = f"""
providers:
  aws: {{type: bedrock, region: us-east-1, access_key_id: "{ACCESS_KEY_ID}", secret_access_key: "{SECRET_ACCESS_KEY}",
         base_url: "{fake.url}"}}
models:
  titan-image: [{{provider: aws, model: "{TITAN}"}}]
  sd: [{{provider: aws, model: "{STABILITY}"}}]
  titan-embed: [{{provider: aws, model: "amazon.titan-embed-text-v2:0"}}]
budgets:
  - {{name: pictures, scope: project, match: painter, window: day, limit_usd: 0.02, cap: hard}}
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


def test_titan_golden_body_answer_and_metering(gateway: RunningGateway, fake: FakeBedrock) -> None:
    with client_for(gateway) as client:
        raw = client.images.with_raw_response.generate(
            model="titan-image", prompt="a lighthouse", n=2, size="1024x1024", quality="hd"
        )
    validate("ImagesResponse", raw.http_response.json())
    answer = raw.parse()
    assert answer.data is not None
    assert [base64.b64decode(d.b64_json or "") for d in answer.data] == [
        f"titan:a lighthouse:1024x1024:{i}".encode() for i in range(2)
    ]
    request = fake.requests[-1]
    assert request.raw_path == "/model/amazon.titan-image-generator-v2%3A0/invoke"
    assert request.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")
    assert request.json == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a lighthouse"},
        "imageGenerationConfig": {"numberOfImages": 2, "width": 1024, "height": 1024, "quality": "premium"},
    }
    row = ledger(gateway, raw.headers["x-request-id"])
    assert row["operation"] == "images" and row["details"]["images"] == 2
    price = load_catalog().lookup("bedrock", TITAN)
    assert price is not None and price.image_price("large/premium") == Decimal("0.012")
    assert row["cost_nanousd"] == to_nanousd(cost(Usage(images=2, image_kind="large/premium"), price)) == 24_000_000


def test_a_small_standard_titan_image_is_priced_as_such(gateway: RunningGateway, fake: FakeBedrock) -> None:
    with client_for(gateway) as client:
        raw = client.images.with_raw_response.generate(model="titan-image", prompt="a cat", size="512x512")
    assert fake.requests[-1].json["imageGenerationConfig"] == {
        "numberOfImages": 1, "width": 512, "height": 512, "quality": "standard"}  # fmt: skip
    assert ledger(gateway, raw.headers["x-request-id"])["cost_nanousd"] == 8_000_000


def test_stability_golden_body_and_a_filtered_image_is_a_content_policy_400(
    gateway: RunningGateway, fake: FakeBedrock
) -> None:
    with client_for(gateway) as client:
        raw = client.images.with_raw_response.generate(model="sd", prompt="a mountain", size="1792x1024")
        assert base64.b64decode(raw.parse().data[0].b64_json or "") == b"stability:a mountain:16:9"  # type: ignore[index]
        assert fake.requests[-1].json == {"prompt": "a mountain", "mode": "text-to-image", "aspect_ratio": "16:9",
                                          "output_format": "png"}  # fmt: skip
        assert ledger(gateway, raw.headers["x-request-id"])["cost_nanousd"] == 80_000_000
        with pytest.raises(openai.BadRequestError) as refused:
            client.images.generate(model="sd", prompt="forbidden scene")
    assert refused.value.code == "content_policy_violation"


@pytest.mark.parametrize(
    ("model", "extra", "param"),
    [("titan-image", {"n": 6}, "n"), ("sd", {"n": 2}, "n"), ("titan-image", {"response_format": "url"},
     "response_format"), ("titan-image", {"size": "huge"}, "size"), ("sd", {"output_format": "webp"},
     "output_format"), ("titan-embed", {}, "model")],
)  # fmt: skip
def test_what_the_model_cannot_do_is_a_400_naming_the_parameter(
    gateway: RunningGateway, model: str, extra: dict[str, Any], param: str
) -> None:
    with client_for(gateway) as client, pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model=model, prompt="x", **extra)
    assert refused.value.param == param


def test_a_budget_caps_bedrock_image_spend(gateway: RunningGateway) -> None:
    async def make() -> str:
        project = await gateway.worker.tenancy.create_project("painter")
        return (await gateway.worker.keys.create(project.id))[0]

    key = gateway.run(make())
    with client_for(gateway, key) as client:
        client.images.generate(model="titan-image", prompt="a", n=2, size="1024x1024")  # 0.02 USD: the cap
        with pytest.raises(openai.RateLimitError) as refused:
            client.images.generate(model="titan-image", prompt="b")
    assert refused.value.code == "budget_exceeded"
