"""How the admin API's MCP objects merge with the config file's (mcp/stored.py): the file wins, a row that no longer
applies is skipped without failing the others, and secrets are masked in every view."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from wardgate.config.mcp import MCPConfig
from wardgate.config.secrets import SecretBox
from wardgate.mcp.stored import MaskedSecret, effective, masked, with_kept_secrets
from wardgate.store.mcp_servers import StoredMCP

FILE = MCPConfig.model_validate(
    {
        "servers": {"github": {"transport": "sse", "url": "http://a/sse"}},
        "virtual_servers": {"dev": {"servers": ["github"]}},
    }
)


def row(kind: str, name: str, config: object, secrets: str | None = None) -> StoredMCP:
    return StoredMCP(kind, name, config, secrets, "admin:test")


def test_the_file_wins_and_rows_that_no_longer_apply_are_skipped() -> None:
    box, other = SecretBox([Fernet.generate_key().decode()]), SecretBox([Fernet.generate_key().decode()])
    rows = [
        row("server", "github", {"transport": "sse", "url": "http://elsewhere/sse"}),  # the file's name
        row("server", "ok", {"transport": "streamable_http", "url": "http://b/mcp"}, box.seal({"headers": {"A": "b"}})),
        row("server", "damaged", None),
        row("server", "bad", {"transport": "carrier-pigeon"}),
        row("server", "lost-key", {"transport": "sse", "url": "http://c/sse"}, other.seal({"headers": {"A": "b"}})),
        row("virtual_server", "api-vs", {"servers": ["ok", "github"]}),
        row("virtual_server", "orphan", {"servers": ["damaged"]}),
        row("virtual_server", "dev", {"servers": ["ok"]}),  # the file's name
    ]
    got = effective(FILE, rows, box)
    assert sorted(got.servers) == ["github", "ok"] and sorted(got.virtual) == ["api-vs", "dev"]
    assert str(got.servers["github"].url) == "http://a/sse" and got.virtual["dev"].servers == ("github",)
    assert dict(got.servers["ok"].headers) == {"A": "b"}  # type: ignore[union-attr]
    assert got.source == {
        ("server", "github"): "config",
        ("virtual_server", "dev"): "config",
        ("server", "ok"): "api",
        ("virtual_server", "api-vs"): "api",
    }


def test_secrets_are_masked() -> None:
    server = MCPConfig.model_validate(
        {
            "servers": {
                "h": {
                    "transport": "streamable_http",
                    "url": "http://a/mcp",
                    "headers": {"Authorization": "Bearer very-secret-token-abcd", "X": "short"},
                    "oauth": {
                        "grant": "client_credentials",
                        "client_id": "c",
                        "client_secret": "s3cr3t-value-wxyz",
                        "issuer": "https://as",
                    },
                },
                "s": {
                    "transport": "stdio",
                    "command": ["x", "--token", "t0k"],
                    "env": {"TOKEN": "env-secret-value-1234"},
                },
                "q": {"transport": "sse", "url": "http://a/sse?api_key=k3y"},
            }
        }
    ).servers
    shown = masked(server["h"])
    assert shown["headers"] == {"Authorization": "…abcd", "X": "…"}
    assert shown["oauth"]["client_secret"] == "…wxyz" and shown["oauth"]["client_id"] == "c"
    assert masked(server["s"])["env"] == {"TOKEN": "…1234"} and masked(server["s"])["command"] == ["x", "…", "…"]
    assert masked(server["q"])["url"] == "http://a/sse?…"
    assert "secret" not in str(shown).replace("client_secret", "") and "env-secret" not in str(masked(server["s"]))


def test_a_put_body_gets_back_the_stored_secrets_it_leaves_out_or_masks() -> None:
    kept = {"headers": {"A": "header-secret-1234"}, "env": {"T": "env-secret-5678"}, "oauth.client_secret": "cs-9999x"}
    http = {"transport": "streamable_http", "url": "http://a/mcp"}
    assert with_kept_secrets(http, kept) == {**http, "headers": {"A": "header-secret-1234"}}  # no oauth: none kept
    oauth = {**http, "oauth": {"client_id": "c"}}
    assert with_kept_secrets(oauth, kept)["oauth"] == {"client_id": "c", "client_secret": "cs-9999x"}
    assert (
        with_kept_secrets({**http, "oauth": {"client_id": "c", "client_secret": "…"}}, kept)["oauth"]["client_secret"]
        == "cs-9999x"
    )  # a short secret's hint is "…"
    assert with_kept_secrets({**http, "oauth": {"client_id": "c", "client_secret": None}}, kept)["oauth"] == {
        "client_id": "c",
        "client_secret": None,
    }  # null removes
    stdio = {"transport": "stdio", "command": ["x"]}
    assert with_kept_secrets(stdio, kept) == {**stdio, "env": {"T": "env-secret-5678"}}  # a stdio server has no headers
    assert with_kept_secrets({**stdio, "env": {"T": "…5678", "U": "u"}}, kept)["env"] == {
        "T": "env-secret-5678",
        "U": "u",
    }
    for hostile in ({**http, "headers": {"A": "…0000"}}, {**http, "headers": {"B": "…"}}):
        with pytest.raises(MaskedSecret):
            with_kept_secrets(hostile, kept)
    with pytest.raises(MaskedSecret):
        with_kept_secrets({**http, "headers": {"A": "…1234"}}, {})  # nothing stored
    assert with_kept_secrets({**http, "headers": "odd"}, kept)["headers"] == "odd"  # left for validation to refuse
