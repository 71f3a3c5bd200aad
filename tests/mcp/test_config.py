"""The `mcp:` and `tool_policies:` sections: validated at load with messages that name the key and the fix."""

from __future__ import annotations

import pytest

from wardgate.config import load_config_text
from wardgate.config.errors import ConfigError

BASE = "master_key: sk-test-master-key\n"


def load(text: str) -> object:
    return load_config_text(BASE + text, source="test.yaml", env={"GH_TOKEN": "t0k"})


def test_the_issue_example_loads() -> None:
    settings = load("""
mcp:
  servers:
    github:
      {transport: streamable_http, url: "https://mcp.example.com/mcp", headers: {Authorization: "Bearer ${GH_TOKEN}"}}
    legacy: {transport: sse, url: "http://10.0.0.5:8000/sse"}
    files:  {transport: stdio, command: ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/data"], env: {}}
  virtual_servers:
    dev-tools:
      servers: [github, files]
      tools: {include: ["github.*", "files.read_*"], exclude: ["github.delete_*"]}
      prefix: true
  tools:
    github.create_issue: {price_usd: 0.002, timeout_s: 30}
tool_policies:
  - {name: p, scope: project, match: acme, allow: ["github.*"]}
rate_limits:
  - {name: issues, scope: tool, match: github.create_issue, rpm: 30}
""")
    mcp = settings.mcp  # type: ignore[attr-defined]
    assert mcp.servers["github"].headers == {"Authorization": "Bearer t0k"}
    assert mcp.servers["files"].command[0] == "npx"
    assert str(mcp.tools["github.create_issue"].price_usd) == "0.002"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("mcp: {servers: {a: {transport: ftp, url: 'http://x'}}}", "transport"),
        ("mcp: {servers: {a: {transport: sse, url: 'http://x', extra: 1}}}", "extra"),
        ("mcp: {virtual_servers: {v: {servers: [ghost]}}}", "ghost not in mcp.servers"),
        ("mcp: {servers: {a: {transport: stdio, command: []}}}", "command"),
        ("mcp: {servers: {a: {transport: sse, url: 'http://x'}}, tools: {b.t: {price_usd: 1}}}", "must name a server"),
        ("mcp: {servers: {a: {transport: sse, url: 'http://x'}}, tools: {a.t: {price_usd: -1}}}", "price_usd"),
        ("mcp: {servers: {a.b: {transport: sse, url: 'http://x'}}}", "a.b"),
        ("tool_policies: [{name: p, scope: global, match: x}]", "no `match`"),
        ("mcp: {servers: {a: {transport: sse, url: 'http://x', oauth: {client_idd: c}}}}", "client_idd"),
        ("mcp: {servers: {a: {transport: sse, url: 'http://x', oauth: {client_secret: s}}}}", "needs client_id"),
        (
            "mcp: {servers: {a: {transport: sse, url: 'http://x', oauth: {grant: client_credentials, client_id: c}}}}",
            "needs client_id, client_secret and issuer",
        ),
        ("mcp: {servers: {a: {transport: sse, url: 'http://x', oauth: {scopes: [read]}}}}", "client_credentials"),
        ("mcp: {servers: {a: {transport: sse, url: 'http://x', oauth: {client_metadata_url: 'http://c/x'}}}}", "https"),
        ("mcp: {servers: {a: {transport: stdio, command: [x], oauth: {}}}}", "oauth"),
        ("mcp: {servers: {a: {transport: stdio, command: [x], elicitation: ask}}}", "elicitation"),
        ("tool_policies: [{name: p, scope: model}]", "scope"),
    ],
)
def test_mistakes_are_named(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(text)
    assert needle in str(caught.value)


def test_an_oauth_upstream_loads() -> None:
    settings = load("""
mcp:
  servers:
    crm:
      transport: streamable_http
      url: "https://crm.example.com/mcp"
      oauth: {client_id: wardgate-prod, client_secret: "${GH_TOKEN}", token_endpoint_auth_method: client_secret_post}
      elicitation: defaults
    billing:
      transport: sse
      url: "https://billing.example.com/sse"
      oauth:
        grant: client_credentials
        client_id: gw
        client_secret: s3
        scopes: [invoices.read]
        issuer: "https://auth.example.com"
""")
    crm = settings.mcp.servers["crm"]  # type: ignore[attr-defined]
    assert crm.oauth.client_secret.get_secret_value() == "t0k"
    assert crm.elicitation == "defaults"
    assert settings.mcp.servers["billing"].oauth.scopes == ("invoices.read",)  # type: ignore[attr-defined]
