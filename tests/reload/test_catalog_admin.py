"""Models and providers stored in the database through `/admin/v1/providers` and `/admin/v1/models`: system admins
only, validated before anything changes (a 400 names the field; the running config keeps serving), secrets stored
encrypted and never returned, every change audited, and served by this worker when the answer arrives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.store.tables import audit_log, catalog_entries

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
SECRET = "sk-do-not-show-1234567890abcd"
CONFIG = f"""
catalog: {{secret_keys: ["{OLD_KEY}"]}}
providers:
  mock: {{type: mock}}
  filed: {{type: openai, base_url: "http://127.0.0.1:9/v1", api_key: sk-file-secret-0000wxyz}}
models:
  from-file: [{{provider: mock, model: gpt-4o-mini}}]
"""


@pytest.fixture
def gw() -> Iterator[RunningGateway]:
    with gateway_from_yaml(CONFIG) as running:
        yield running


def admin(gw: RunningGateway, token: str = MASTER_KEY) -> httpx.Client:
    return httpx.Client(base_url=gw.root + "/admin/v1", headers={"authorization": f"Bearer {token}"}, timeout=10)


def chat(gw: RunningGateway, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(gw.url + "/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"})


async def _rows(gw: RunningGateway, table: Any) -> list[dict[str, Any]]:
    await gw.worker.audit.flush()
    async with gw.worker.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(table))).mappings()]


def test_providers_and_models_made_in_the_api_serve_at_once_and_hide_their_secrets(gw: RunningGateway) -> None:
    with admin(gw) as api:
        provider = {
            "name": "stored",
            "config": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": SECRET},
        }
        made = api.post("/providers", json=provider)
        assert made.status_code == 201, made.text
        assert SECRET not in made.text and made.json()["data"][0]["secrets"] == {"api_key": "…abcd"}
        assert api.post("/providers", json=provider).status_code == 409
        assert api.post("/providers", json={**provider, "name": "filed"}).status_code == 409  # the file's

        model = {"name": "db-model", "config": [{"provider": "mock", "model": "gpt-4o-mini"}]}
        assert chat(gw, "db-model").status_code == 404
        assert api.post("/models", json=model).status_code == 201
        assert chat(gw, "db-model").status_code == 200  # the answer came once this worker applied it

        listed = api.get("/providers").json()["data"]
        assert {(p["name"], p["source"]) for p in listed} == {
            ("mock", "config"),
            ("filed", "config"),
            ("stored", "api"),
        }
        assert "sk-file-secret" not in api.get("/providers").text and SECRET not in api.get("/providers").text
        assert api.get("/providers/filed").json()["data"][0]["secrets"] == {"api_key": "…wxyz"}
        assert [m["name"] for m in api.get("/models").json()["data"]] == ["from-file", "db-model"]

        # a PUT without the secret keeps it; the running provider still has it
        kept = {"name": "stored", "config": {"type": "openai", "base_url": "http://127.0.0.1:8/v1"}}
        assert api.put("/providers/stored", json=kept).status_code == 200
        assert gw.app.settings.providers["stored"].api_key.get_secret_value() == SECRET
        assert gw.app.settings.providers["stored"].base_url == "http://127.0.0.1:8/v1"

        assert api.delete("/models/db-model").status_code == 200
        assert chat(gw, "db-model").status_code == 404
        assert api.delete("/models/from-file").status_code == 404  # the file's: not here
    stored = gw.run(_rows(gw, catalog_entries))
    assert [r["name"] for r in stored] == ["stored"]
    assert SECRET not in str(stored)  # encrypted at rest
    actions = [r["action"] for r in gw.run(_rows(gw, audit_log)) if r["action"].startswith(("provider.", "model."))]
    assert actions == ["provider.create", "model.create", "provider.replace", "model.delete"]
    assert SECRET not in str(gw.run(_rows(gw, audit_log)))


def test_an_invalid_change_is_a_400_naming_the_field_and_the_running_config_keeps_serving(gw: RunningGateway) -> None:
    with admin(gw) as api:
        wrong = api.post("/models", json={"name": "m", "config": [{"provider": "nowhere", "model": "x"}]})
        assert wrong.status_code == 400
        assert wrong.json()["error"]["param"] == "config[0].provider" and "nowhere" in wrong.json()["error"]["message"]
        typo = api.post("/providers", json={"name": "p", "config": {"type": "openai", "bse_url": "http://x"}})
        assert typo.status_code == 400 and typo.json()["error"]["param"] == "config.bse_url"
        listed = api.post("/models", json={"name": "m", "config": [{"provider": "mock", "model": "x", "weight": 0}]})
        assert listed.status_code == 400 and listed.json()["error"]["param"] == "config[0].weight"
        disk = {"name": "v", "config": {"type": "vertex", "project": "p", "credentials_file": "/etc/shadow"}}
        assert api.post("/providers", json=disk).json()["error"]["param"] == "config.credentials_file"
        kind = api.post("/providers", json={"name": "p", "config": {"type": "nope"}})
        assert kind.status_code == 400 and kind.json()["error"]["param"] == "config.type"
        # a provider a stored model routes to cannot go
        assert api.post("/providers", json={"name": "p", "config": {"type": "mock"}}).status_code == 201
        assert api.post("/models", json={"name": "m", "config": [{"provider": "p", "model": "x"}]}).status_code == 201
        used = api.delete("/providers/p")
        assert used.status_code == 400 and used.json()["error"]["param"] == "models.m[0].provider"
        for bad in ({"name": "../x", "config": {}}, {"name": "p2", "config": []}, {"name": "p2"}, "x"):
            answer = api.post("/providers", json=bad)
            assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"
        huge = {"name": "p3", "config": {"type": "mock", "x": "y" * 70_000}}
        assert api.post("/providers", json=huge).json()["error"]["param"] == "config"
    assert chat(gw, "m").status_code == 200 and chat(gw, "from-file").status_code == 200


def test_only_system_admins_reach_the_catalog(gw: RunningGateway) -> None:
    with admin(gw, "sk-not-a-key") as api:
        assert api.get("/providers").status_code == 401
        assert api.post("/models", json={"name": "m", "config": []}).status_code == 401


def test_secrets_need_a_key_and_rotate_to_the_first_one(tmp_path: Path) -> None:
    with gateway_from_yaml("providers: {mock: {type: mock}}\n") as gw, admin(gw) as api:
        refused = api.post("/providers", json={"name": "s", "config": {"type": "openai", "api_key": SECRET}})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "config.api_key"
        assert "catalog.secret_keys" in refused.json()["error"]["message"]
    store = f"store: sqlite:///{tmp_path}/wardgate.db\n"
    with gateway_from_yaml(store + CONFIG) as gw:
        with admin(gw) as api:
            made = api.post("/providers", json={"name": "s", "config": {"type": "openai", "api_key": SECRET}})
            assert made.status_code == 201
        (sealed,) = [r["secrets"] for r in gw.run(_rows(gw, catalog_entries))]
        assert Fernet(OLD_KEY.encode()).decrypt(sealed.encode()) == orjson.dumps({"api_key": SECRET})
    # a new key listed first, the old one kept: the stored secrets still open, and re-encrypt with the new one
    rotated = store + CONFIG.replace(f'["{OLD_KEY}"]', f'["{NEW_KEY}", "{OLD_KEY}"]')
    with gateway_from_yaml(rotated) as gw, admin(gw) as api:
        assert gw.app.settings.providers["s"].api_key.get_secret_value() == SECRET
        assert api.post("/providers/rotate").json()["resealed"] == 1
        (sealed,) = [r["secrets"] for r in gw.run(_rows(gw, catalog_entries))]
        assert Fernet(NEW_KEY.encode()).decrypt(sealed.encode()) == orjson.dumps({"api_key": SECRET})
    # the old key dropped: the provider cannot be opened, so the catalog is not applied; the file's config serves
    with gateway_from_yaml(store + CONFIG) as gw:
        assert "s" not in gw.app.settings.providers and gw.app.reloader is not None
        assert "cannot be decrypted" in (gw.app.reloader.last_error or "")
        assert chat(gw, "from-file").status_code == 200


def test_the_provider_types_listed_are_the_gateways_own(gw: RunningGateway) -> None:
    from wardgate.providers import registry

    with admin(gw) as api:
        listed = api.get("/provider-types")
        assert listed.status_code == 200
        data = listed.json()["data"]
    known = registry.provider_types()
    assert [t["name"] for t in data] == sorted(known)  # the registry's, so a console never keeps a copy
    openai = next(t for t in data if t["name"] == "openai")
    assert openai["wire"] == "openai" and "chat" in openai["operations"] and openai["description"]
    anon = httpx.get(gw.root + "/admin/v1/provider-types")
    assert anon.status_code == 401
