"""One gateway (mock provider, its own SQLite store) shared by the console tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.admin.support import CONFIG
from tests.support import RunningGateway, gateway_from_yaml
from tests.ui.browser import require

# the console is served on loopback: Chromium resolves no other name and phones nowhere. Each switch below stops
# something the browser otherwise asks of the network (`make airgap-test` counts every connect() off loopback; a
# network log of a run showed what asked): the component updater, DNS prefetch and the built-in DNS client; autofill's
# form queries to content-autofill.googleapis.com (AutofillServerCommunication, one per page with a form); the
# network-time query to clients2.google.com (NetworkTimeServiceQuerying); the on-device model manifest from
# update.googleapis.com, which --disable-component-update does not stop (an empty manifest override, in `tools`).
# What stays: the network service probes IPv6 reachability (a UDP connect() to 2001:4860:4860::8888, no packet sent)
# before it resolves any host, IP literals included, at most once a second; no switch turns that off.
OFFLINE = [
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--dns-prefetch-disable",
    "--no-pings",
    "--disable-features=AsyncDns,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication,"
    "NetworkTimeServiceQuerying",
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    path: Path = tmp_path_factory.mktemp("console") / "wardgate.db"
    with gateway_from_yaml(CONFIG.format(path=path)) as gw:
        yield gw


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """One headless Chromium for a module's browser tests (each opens its own contexts), and axe-core's source.
    Per module, not per session: Playwright's sync API keeps an event loop on this thread while it runs, and the
    async tests of other modules need the thread's loop free."""
    sync_playwright, executable, axe = require()
    manifest = tmp_path_factory.mktemp("chromium") / "model-manifest.json"
    manifest.write_text("{}")  # no manifest, no components: the on-device model service asks the updater for nothing
    args = ["--no-sandbox", *OFFLINE, f"--optimization-guide-manifest-override={manifest}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        try:
            yield browser, axe
        finally:
            browser.close()
