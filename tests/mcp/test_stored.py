"""How the admin API's MCP objects merge with the config file's (mcp/stored.py): the file wins, a row that no longer
applies is skipped without failing the others, and secrets are masked in every view."""

from __future__ import annotations

from cryptography.fernet import Fernet

from wardgate.config.mcp import MCPConfig
from wardgate.config.secrets import SecretBox
from wardgate.mcp.stored import effective, masked
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
