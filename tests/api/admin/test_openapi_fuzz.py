"""Schemathesis fuzzes the admin API from its own OpenAPI document, in this process, against a running gateway:
no 5xx, every answer (errors included) matches the document, invalid input is refused, valid input accepted.

Bounded (a few examples per operation, fixed seed) so it stays well under a minute. Two exemptions, configured
below: POST /admin/v1/keys refuses some schema-valid bodies on purpose (an expiry in the past, models outside the
project's allow-list; JSON Schema cannot say "in the future"), and a role grant naming a project or team that does
not exist answers 404 about that scope, which the stateful phase would read as "the user just created is gone".
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from schemathesis.cli import schemathesis as schemathesis_cli

from tests.api.admin.support import CONFIG as GATEWAY_CONFIG
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.api.admin.resources import operations

SCHEMATHESIS_CONFIG = """
# MCP servers and virtual servers: this gateway has no `mcp:` (409; a create's 409 is accepted as it is), and a
# schema-valid body may still be refused (a stdio server without mcp.admin_stdio, a header naming ${VAR}, a virtual
# server naming an unknown server)
[[operations]]
include-path = "/admin/v1/mcp/servers/{name}"
include-method = "PUT"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

[[operations]]
include-path = "/admin/v1/mcp/virtual-servers/{name}"
include-method = "PUT"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

[[operations]]
include-path = "/admin/v1/budgets/{name}"
include-method = "PUT"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
include-path = "/admin/v1/rate-limits/{name}"
include-method = "PUT"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
include-path = "/admin/v1/keys"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

# a cursor is opaque (the last row's key): a string the schema allows need not name a row, and that is a 400
[[operations]]
include-path-regex = "^/admin/v1/(projects|users|guards|prompts)$"
include-method = "GET"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]
"""


@pytest.fixture(scope="module")
def gateway(store_path: Path) -> Iterator[RunningGateway]:
    with gateway_from_yaml(GATEWAY_CONFIG.format(path=store_path)) as gw:
        yield gw


def test_the_admin_api_keeps_to_its_openapi_document(
    gateway: RunningGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # schemathesis and hypothesis keep caches in the working directory
    monkeypatch.setenv("HYPOTHESIS_STORAGE_DIRECTORY", str(tmp_path / ".hypothesis"))
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    result = CliRunner().invoke(
        schemathesis_cli,
        [
            "--config-file", str(config),
            "--no-color",
            "run", gateway.root + "/admin/openapi.json",
            "--header", f"Authorization: Bearer {MASTER_KEY}",
            "--checks", "all",
            "--max-examples", os.environ.get("WARDGATE_FUZZ_EXAMPLES", "20"),
            "--seed", "20261101",
            "--workers", "1",
            "--generation-database", "none",
            "--exclude-checks", "ensure_resource_availability",
            "--report-dir", str(tmp_path / "report"),
            *(["--max-time", os.environ["WARDGATE_FUZZ_SECONDS"]] if os.environ.get("WARDGATE_FUZZ_SECONDS") else []),
        ],
        catch_exceptions=False,
    )  # fmt: skip
    if result.exit_code != 0:
        pytest.fail(result.output, pytrace=False)
    routes = len(operations(gateway.worker))
    assert f"{routes} selected / {routes} total" in result.output  # every route was fuzzed
