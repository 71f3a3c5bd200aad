"""Video end to end: the official ``openai`` SDK → Wardgate → the OpenAI fake's video endpoints.

Checked: creation (multipart, with and without an ``input_reference`` file) answers a spec-valid job; its ledger row
holds the seconds and size the job reports and costs seconds × the catalog's price for that size; the job is its
project's only (read, download, delete, list); a spent hard budget refuses the next video; bad input gets an
OpenAI-shaped 400 naming the parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.fakes.openai_media import FAKE_MP4, PNG, parse_form
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.store.usage import by_request_id
from wardgate.usage.pricing import load_catalog, to_nanousd

KEY = "sk-fake-upstream-video"
# the SDK marks its video methods deprecated (the Sora API's announced end); the endpoints are still OpenAI's
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {KEY}}}
models:
  sora-2: [{{provider: up, model: sora-2}}]
  sora-2-pro: [{{provider: up, model: sora-2-pro}}]
budgets:
  - {{name: film, scope: project, match: thrifty, window: day, limit_usd: 0.5, cap: hard}}
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
    return {name: make_key(gateway, name) for name in ("studio", "rival", "thrifty")}


def ledger_row(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, request_id))
    assert row is not None
    return row


def test_a_video_is_created_metered_by_seconds_and_size_and_downloaded(
    gateway: RunningGateway, fake: FakeOpenAI, keys: dict[str, str]
) -> None:
    with openai.OpenAI(base_url=gateway.url, api_key=keys["studio"], max_retries=0) as client:
        raw = client.videos.with_raw_response.create(
            prompt="a calico cat at the piano", model="sora-2-pro", seconds="8", size="1792x1024",
            input_reference=("ref.png", PNG, "image/png"),
        )  # fmt: skip
        video = raw.parse()
        validate("VideoResource", video.model_dump(mode="json", exclude_unset=True))
        fields, files = parse_form(fake.last.body, fake.last.headers["content-type"])
        assert fields["model"] == "sora-2-pro" and files["input_reference"][2] == PNG
        row = ledger_row(gateway, raw.headers["x-request-id"])
        assert row["operation"] == "videos" and row["details"]["video_seconds"] == 8.0
        assert row["details"]["video_size"] == "1792x1024"
        price = load_catalog().lookup("openai", "sora-2-pro")
        assert price is not None and price.video_price("1792x1024") == Decimal("0.50")
        assert row["cost_nanousd"] == to_nanousd(Decimal(8) * Decimal("0.50"))
        done = client.videos.retrieve(video.id)
        assert done.status == "completed"
        assert client.videos.download_content(video.id).read() == FAKE_MP4
        assert video.id in {v.id for v in client.videos.list()}
        plain = client.videos.create(prompt="waves")  # JSON defaults: sora-2, 4 seconds, 720x1280
        assert (plain.model, plain.seconds, plain.size) == ("sora-2", "4", "720x1280")
        assert client.videos.delete(plain.id).deleted
        with pytest.raises(openai.NotFoundError):
            client.videos.retrieve(plain.id)


def test_a_video_is_its_projects_only(gateway: RunningGateway, keys: dict[str, str]) -> None:
    with (
        openai.OpenAI(base_url=gateway.url, api_key=keys["studio"], max_retries=0) as studio,
        openai.OpenAI(base_url=gateway.url, api_key=keys["rival"], max_retries=0) as rival,
    ):
        video = studio.videos.create(prompt="secret project")
        assert video.id not in {v.id for v in rival.videos.list()}
        for attempt in (
            lambda: rival.videos.retrieve(video.id),
            lambda: rival.videos.download_content(video.id),
            lambda: rival.videos.delete(video.id),
        ):
            with pytest.raises(openai.NotFoundError):
                attempt()
        assert studio.videos.retrieve(video.id).id == video.id


def test_a_spent_budget_refuses_the_next_video(gateway: RunningGateway, keys: dict[str, str]) -> None:
    with openai.OpenAI(base_url=gateway.url, api_key=keys["thrifty"], max_retries=0) as client:
        client.videos.create(prompt="one", model="sora-2", seconds="8")  # $0.80: past the $0.50 cap
        with pytest.raises(openai.RateLimitError) as refused:
            client.videos.create(prompt="two", model="sora-2", seconds="4")
    assert refused.value.code == "budget_exceeded"


@pytest.mark.parametrize(
    ("data", "param"),
    [({"model": "sora-2"}, "prompt"), ({"prompt": "x", "seconds": "5"}, "seconds"),
     ({"prompt": "x", "size": "10x10"}, "size"), ({"prompt": "x", "model": "nope"}, "model")],
)  # fmt: skip
def test_bad_video_requests_get_openai_errors(gateway: RunningGateway, data: dict[str, str], param: str) -> None:
    answer = httpx.post(gateway.url + "/videos", json=data, headers={"authorization": f"Bearer {MASTER_KEY}"})
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]["param"] == param


def test_a_bad_variant_and_unknown_paths_are_clean_errors(gateway: RunningGateway) -> None:
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    made = httpx.post(gateway.url + "/videos", json={"prompt": "x"}, headers=auth).json()
    answer = httpx.get(gateway.url + f"/videos/{made['id']}/content?variant=nope", headers=auth)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "variant"
    assert httpx.post(gateway.url + f"/videos/{made['id']}/remix", headers=auth).status_code == 404


def test_a_query_string_with_too_many_parameters_is_a_400(gateway: RunningGateway) -> None:
    """Found by the data-plane schemathesis judge: parse_qs's field cap raised ValueError, a 500."""
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    query = "&".join(f"p{n}=v" for n in range(17))
    for path in ("/videos", "/files", "/batches", "/responses/resp_x/input_items"):
        answer = httpx.get(gateway.url + f"{path}?{query}", headers=auth)
        assert answer.status_code in (400, 404), (path, answer.text)
        assert answer.json()["error"]["type"] == "invalid_request_error", (path, answer.text)
    answer = httpx.get(gateway.url + f"/videos?{query}", headers=auth)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_query"
