"""A real gateway mapping a forwarded client certificate to a principal: through the identity stage of the running
gateway, and over HTTP once the surface hands the header to the pipeline."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.core.call import Call
from wardgate.core.errors import PermissionDenied, Unauthenticated
from wardgate.core.principal import Principal
from wardgate.store.usage import by_request_id

XFCC = 'By=spiffe://mesh/wardgate;Hash=abc123;Subject="CN=billing-bot,OU=acme,O=Example";URI=spiffe://mesh/acme/billing'
surface_forwards_the_header = pytest.mark.skipif(
    "client_cert" not in Call.__dataclass_fields__, reason="the surface does not hand the mTLS header to Call yet"
)


def config(trusted: str = "[127.0.0.1/32]") -> str:
    return f"""
identity:
  mtls: {{header: x-forwarded-client-cert, subject_format: xfcc, project_from: OU, user_from: CN,
          trusted_proxies: {trusted}}}
providers:
  demo: {{type: mock}}
models:
  chat-model: [{{provider: demo, model: demo-chat}}]
"""


@pytest.fixture(scope="module")
def gateway() -> Iterator[RunningGateway]:
    with gateway_from_yaml(config()) as gw:
        gw.run(gw.worker.tenancy.create_project("acme", id="prj_acme", allowed_models=["chat-model"]))
        yield gw


def authenticate(gateway: RunningGateway, credential: str | None, client_cert: str | None) -> Principal:
    runtime = gateway.app.runtime()
    return gateway.run(runtime.authenticate(credential, client_cert=client_cert))


def test_the_certificate_maps_to_its_project_and_user(gateway: RunningGateway) -> None:
    principal = authenticate(gateway, None, XFCC)
    assert principal.id == "mtls:spiffe://mesh/acme/billing"
    assert (principal.project, principal.user) == ("prj_acme", "billing-bot")
    assert principal.allowed_models == frozenset({"chat-model"})


def test_a_bearer_credential_wins_over_the_certificate(gateway: RunningGateway) -> None:
    assert authenticate(gateway, MASTER_KEY, XFCC).kind == "master"
    with pytest.raises(Unauthenticated):
        authenticate(gateway, "sk-wrong-key", XFCC)


def test_an_unknown_project_is_403_and_an_unreadable_header_401(gateway: RunningGateway) -> None:
    with pytest.raises(PermissionDenied, match="'ghost'"):
        authenticate(gateway, None, 'Subject="CN=x,OU=ghost"')
    with pytest.raises(PermissionDenied, match="names no project"):
        authenticate(gateway, None, 'Subject="CN=x,O=Example"')
    with pytest.raises(Unauthenticated, match="cannot be read"):
        authenticate(gateway, None, 'Subject="CN=x')


def post(gateway: RunningGateway, headers: dict[str, str]) -> httpx.Response:
    body: dict[str, Any] = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client() as http:
        return http.post(gateway.url + "/chat/completions", json=body, headers=headers)


@surface_forwards_the_header
def test_a_request_with_the_header_is_served_and_charged_to_the_project(gateway: RunningGateway) -> None:
    client_id = f"mtls-{uuid.uuid4().hex[:12]}"
    response = post(gateway, {"x-forwarded-client-cert": XFCC, "x-wardgate-request-id": client_id})
    assert response.status_code == 200, response.text
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, response.headers["x-wardgate-request-id"]))
    assert row is not None and row["client_request_id"] == client_id
    assert (row["principal_id"], row["project_id"], row["user_id"]) == (
        "mtls:spiffe://mesh/acme/billing",
        "prj_acme",
        "billing-bot",
    )


@surface_forwards_the_header
def test_the_header_from_an_untrusted_peer_is_ignored() -> None:
    with gateway_from_yaml(config("[10.0.0.0/8]")) as gw:
        gw.run(gw.worker.tenancy.create_project("acme"))
        assert post(gw, {"x-forwarded-client-cert": XFCC}).status_code == 401


def test_without_mtls_configured_the_header_means_nothing() -> None:
    with gateway_from_yaml("providers: {demo: {type: mock}}\nmodels: {chat-model: [{provider: demo, model: x}]}") as gw:
        assert post(gw, {"x-forwarded-client-cert": XFCC}).status_code == 401
        with pytest.raises(Unauthenticated):
            authenticate(gw, None, XFCC)
