"""One gateway (mock provider, its own SQLite store) shared by the console tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.admin.support import CONFIG
from tests.support import RunningGateway, gateway_from_yaml
from tests.ui.browser import require

# the console is served on loopback: Chromium resolves no other name and phones nowhere (its component updater, DNS
# prefetch and IPv6 probe otherwise try the network; `make airgap-test` counts every connect() off loopback)
OFFLINE = [
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--dns-prefetch-disable",
    "--no-pings",
    "--disable-features=AsyncDns,OptimizationHints,MediaRouter,DialMediaRouteProvider",
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    path: Path = tmp_path_factory.mktemp("console") / "wardgate.db"
    with gateway_from_yaml(CONFIG.format(path=path)) as gw:
        yield gw


@pytest.fixture(scope="module")
def tools() -> Iterator[tuple[Any, str]]:
    """One headless Chromium for a module's browser tests (each opens its own contexts), and axe-core's source.
    Per module, not per session: Playwright's sync API keeps an event loop on this thread while it runs, and the
    async tests of other modules need the thread's loop free."""
    sync_playwright, executable, axe = require()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", *OFFLINE])
        try:
            yield browser, axe
        finally:
            browser.close()
