"""What the browser tests need, installed from the registries on first use: Debian's ``chromium`` (apt, when we are
root), Playwright for Python (the test extra; it drives the system browser, never ``playwright install``) and
``axe-core`` from npm (into the judges' cache, tests/judges/install.py). Locally a piece that cannot be had skips
with the reason; in CI (``CI=true``) it fails, so a green CI means the console was driven in a real browser.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.judges.install import CACHE, Unavailable, node_bin_dir, npm_install, unavailable

AXE_VERSION = "4.10.2"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium() -> str:
    found = next((p for p in _CANDIDATES if os.path.exists(p)), None)
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            subprocess.run(args, capture_output=True, timeout=900, env=env, check=False)
        found = next((p for p in _CANDIDATES if os.path.exists(p)), None)
    if found is None:
        raise Unavailable("no Chromium: `apt-get install chromium` (Debian) is needed for the console's browser tests")
    return found


def axe_source() -> str:
    home = CACHE / f"axe-core-{AXE_VERSION}"
    ready = "node_modules/axe-core/axe.min.js"
    npm_install(node_bin_dir(), home, [f"axe-core@{AXE_VERSION}"], "axe-core", ready)
    return (home / ready).read_text(encoding="utf-8")


def require() -> tuple[Any, str, str]:
    """(playwright's sync_playwright, the Chromium path, axe's source), or skip/fail."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (`make test` installs the test extra)")
        raise
    try:
        return sync_playwright, chromium(), axe_source()
    except Unavailable as exc:
        unavailable(str(exc))
        raise


_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


@dataclass
class Watcher:
    """Every console error and failed request of a page. ``allow`` names admin API paths a test expects to be
    refused (a viewer asking for a foreign project): their 4xx, and the browser's one console line for each, are
    not problems; anything else is."""

    problems: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    _expected_failures: int = 0

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _request_failed(self, request: Any) -> None:
        # the browser cancels a page's fetches still in flight when the test moves to another page: not a failure
        # of the server (a reset or an empty answer is another error, and a 4xx/5xx is seen in ``_response``)
        if request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"request failed: {request.url} {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status < 400:
            return
        if any(fragment in response.url for fragment in self.allowed):
            self._expected_failures += 1
        else:
            self.problems.append(f"{response.status} {response.url}")

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        if _FAILED_LOAD.search(message.text) and self._expected_failures > 0:
            self._expected_failures -= 1
            return
        self.problems.append(f"console error: {message.text}")


def axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is (axe is added to every page of the context
    by an init script, which the page's Content-Security-Policy does not block)."""
    result = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', "
        "'best-practice']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result
        if v.get("impact") in ("serious", "critical")
    ]
