"""A worker imports only what its config uses: the guard detectors (and `regex`) only with a guard of their type,
a provider type's adapter only with a provider of that type, redis-py (about 25 MB of RSS per worker with its
OpenTelemetry hooks) only with ``redis:``, tiktoken only with its first vocabulary, and never SQLAlchemy's ORM (the
asyncio engine's package imports it eagerly; wardgate/sqla_core.py defers it). Checked in a fresh interpreter, since
the test process has imported everything already."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CONFIG = """
master_key: sk-lazy-imports-master-key
store: sqlite:///{db}
providers:
  up: {{type: openai, base_url: "http://127.0.0.1:9/v1", api_key: sk-up}}
models:
  gpt-4o-mini: [{{provider: up, model: gpt-4o-mini}}]
budgets:
  - {{name: monthly, scope: project, window: month, limit_usd: 10, cap: hard}}
rate_limits:
  - {{name: per-key, scope: key, rpm: 1000}}
"""

PROBE = textwrap.dedent(
    """
    import asyncio, sys
    from wardgate.app import create_app
    from wardgate.config import load_config

    async def main() -> None:
        app = create_app(load_config(sys.argv[1]))
        await app.startup()
        await app.shutdown()

    asyncio.run(main())
    tops = {m.split(".")[0] for m in sys.modules}
    print(" ".join(sorted(tops | {m for m in sys.modules if m.startswith(("sqlalchemy.", "wardgate."))})))
    """
)


def test_a_worker_without_redis_never_imports_redis_py_nor_tiktoken(tmp_path: Path) -> None:
    config = tmp_path / "wardgate.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "w.db"))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "wardgate" in loaded
    assert "redis" not in loaded
    assert "tiktoken" not in loaded
    assert "opentelemetry" not in loaded
    assert "sqlalchemy.ext.asyncio.engine" in loaded  # the engine is there …
    assert not {m for m in loaded if m.startswith("sqlalchemy.orm")}  # … without the ORM
    # no guard is configured: the stage is there (the admin API may add one), its detectors and `regex` are not
    assert "wardgate.guards.stage" in loaded
    assert not {"regex", "wardgate.guards.injection", "wardgate.guards.pii", "wardgate.guards.secrets"} & loaded
    # only an OpenAI provider is configured: the other types' configs are known, their adapters not loaded
    assert "wardgate.providers.openai" in loaded and "wardgate.providers.anthropic" in loaded
    assert not {m for m in loaded if m.startswith(("wardgate.providers.anthropic.", "wardgate.providers.cohere."))}
    assert not {m for m in loaded if m.startswith("wardgate.providers.gemini.")}


def test_a_worker_with_guards_and_an_anthropic_provider_loads_their_code_at_start(tmp_path: Path) -> None:
    config = tmp_path / "wardgate.yaml"
    text = CONFIG.format(db=tmp_path / "w.db")
    text = text.replace(
        "providers:\n", 'providers:\n  ant: {type: anthropic, base_url: "http://127.0.0.1:9", api_key: sk-ant}\n', 1
    )
    text = text.replace("models:\n", "models:\n  claude: [{provider: ant, model: claude-sonnet-4}]\n", 1)
    text += "guards:\n  - {name: inj, type: injection, on: request, action: block}\n"
    text += "  - {name: pii, type: pii, on: both, action: redact}\n"
    config.write_text(text)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    # compiled when the worker starts, so the first request pays no import
    assert {"regex", "wardgate.guards.injection", "wardgate.guards.pii"} <= loaded
    assert "wardgate.guards.secrets" not in loaded  # no secrets guard
    # names and addresses are opt-in entities: the census name lists (the `names` package) are not read
    assert not {"names", "wardgate.guards.person", "wardgate.guards.address"} & loaded
    assert "wardgate.providers.anthropic.adapter" in loaded
    assert "wardgate.providers.cohere.adapter" not in loaded
