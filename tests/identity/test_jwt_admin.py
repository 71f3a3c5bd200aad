"""JWT/OIDC users on the admin API: roles from the token's claims (identity.jwt.admin) and from the Wardgate user
the token names."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.identity.issuer import FakeIssuer
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml


@pytest.fixture(scope="module")
def issuer() -> Iterator[FakeIssuer]:
    with FakeIssuer() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(issuer: FakeIssuer) -> Iterator[RunningGateway]:
    config = f"""
identity:
  jwt:
    issuer: "{issuer.url}"
    audience: wardgate
    admin:
      claim: groups
      roles:
        - {{value: platform, role: admin}}
        - {{value: search-leads, project: search, role: admin}}
        - {{value: search-readers, project: prj_search, role: viewer}}
providers:
  demo: {{type: mock}}
models:
  chat-model: [{{provider: demo, model: demo-chat}}]
"""
    with gateway_from_yaml(config) as gw:
        gw.run(gw.worker.tenancy.create_project("search", id="prj_search"))
        gw.run(gw.worker.tenancy.create_project("billing", id="prj_billing"))
        yield gw


def get(gateway: RunningGateway, token: str, path: str) -> httpx.Response:
    return httpx.get(gateway.root + path, headers={"authorization": f"Bearer {token}"})


def test_a_group_claim_mapped_to_the_system_admin_role_administers_everything(
    gateway: RunningGateway, issuer: FakeIssuer
) -> None:
    token = issuer.token(groups=["platform", "unrelated"])
    names = {p["name"] for p in get(gateway, token, "/admin/v1/projects").json()["data"]}
    assert {"search", "billing"} <= names
    made = httpx.post(
        gateway.root + "/admin/v1/projects", json={"name": "from-sso"}, headers={"authorization": f"Bearer {token}"}
    )
    assert made.status_code == 201


def test_a_project_role_from_a_claim_sees_only_that_project(gateway: RunningGateway, issuer: FakeIssuer) -> None:
    lead = issuer.token(groups="search-leads")
    assert [p["name"] for p in get(gateway, lead, "/admin/v1/projects").json()["data"]] == ["search"]
    assert get(gateway, lead, "/admin/v1/projects/prj_billing").status_code == 404
    team = httpx.post(
        gateway.root + "/admin/v1/projects/prj_search/teams", json={"name": "sso-team"},
        headers={"authorization": f"Bearer {lead}"},
    )  # fmt: skip
    assert team.status_code == 201
    reader = issuer.token(groups=["search-readers"])
    created = httpx.post(
        gateway.root + "/admin/v1/projects/prj_search/teams", json={"name": "nope"},
        headers={"authorization": f"Bearer {reader}"},
    )  # fmt: skip
    assert created.status_code == 403


def test_a_token_naming_a_wardgate_user_gets_that_users_roles(gateway: RunningGateway, issuer: FakeIssuer) -> None:
    async def make_user() -> str:
        user = await gateway.worker.tenancy.create_user("bob@example.com")
        await gateway.worker.tenancy.grant(user.id, "project", "prj_billing", "viewer")
        return user.id

    gateway.run(make_user())
    token = issuer.token(sub="bob@example.com")  # claims.user (sub) names the user by email
    assert [p["name"] for p in get(gateway, token, "/admin/v1/projects").json()["data"]] == ["billing"]


def test_bad_tokens_and_tokens_without_roles_get_nothing(gateway: RunningGateway, issuer: FakeIssuer) -> None:
    assert get(gateway, issuer.token(groups=["strangers"]), "/admin/v1/projects").json()["data"] == []
    expired = issuer.token(groups=["platform"], exp=1)
    assert get(gateway, expired, "/admin/v1/projects").status_code == 401
    forged = issuer.token(groups=["platform"], aud="someone-else")
    assert get(gateway, forged, "/admin/v1/projects").status_code == 401
    assert get(gateway, MASTER_KEY, "/admin/v1/projects").status_code == 200
