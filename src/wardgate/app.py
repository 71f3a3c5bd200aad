"""The ASGI app: a plain route table for the data plane, health, and the lifespan that builds each worker's runtime.

Wiring only: nothing here decides anything about a request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable

from wardgate.accounting.cost import cost_function
from wardgate.api.anthropic import AnthropicSurface
from wardgate.api.asgi import Receive, Scope, Send, send_bytes, send_error, send_json
from wardgate.api.openai import OpenAISurface
from wardgate.assemble import Runtime, assemble
from wardgate.config import Settings, load_config
from wardgate.config.loader import DEMO_CONFIG
from wardgate.core.errors import MethodNotAllowed, NotFound
from wardgate.limits.build import build_limits, model_classes, new_backend, rebuild_from_ledger
from wardgate.limits.memory import MemoryLimits
from wardgate.limits.metrics import budget_collector
from wardgate.limits.rate_refresh import RateLimitRefresher
from wardgate.limits.refresh import BudgetRefresher
from wardgate.limits.stage import LimitsStage
from wardgate.observability.metrics import Metrics, cache_collector, shared_counters_from_env
from wardgate.routing.metrics import routing_collector
from wardgate.services import Services, open_services
from wardgate.store.budgets import BudgetStore
from wardgate.store.rate_limits import RateLimitStore

log = logging.getLogger("wardgate")
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
CONFIG_ENV = "WARDGATE_CONFIG"


class Gateway:
    """One worker's ASGI application."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runtime: Runtime | None = None
        self.services: Services | None = None
        self.control_plane: Handler | None = None  # the admin API (Starlette), mounted at /admin
        self.limits: LimitsStage | None = None
        self.budget_refresher: BudgetRefresher | None = None
        surface = OpenAISurface(self.runtime)
        anthropic = AnthropicSurface(self.runtime)
        post: dict[str, Handler] = {
            "/chat/completions": surface.chat,
            "/completions": surface.completions,
            "/embeddings": surface.embeddings,
            "/messages": anthropic.messages,
            "/messages/count_tokens": anthropic.count_tokens,
        }
        get: dict[str, Handler] = {"/models": surface.models}
        self._routes: dict[tuple[str, str], Handler] = {}
        for method, table in (("POST", post), ("GET", get)):
            for path, handler in table.items():
                self._routes[(method, "/v1" + path)] = handler
                self._routes[(method, path)] = handler  # clients configured without the /v1 suffix
        self._routes[("GET", "/health/live")] = self._live
        self._routes[("GET", "/health/ready")] = self._ready
        self._routes[("GET", "/metrics")] = self._metrics
        self.metrics = Metrics(shared_counters_from_env())
        self._paths = {path for _, path in self._routes}
        self._model = surface.model

    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the gateway has not started (lifespan startup did not run)")
        return self._runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            handler = self._routes.get((scope["method"], path))
            if handler is not None:
                await handler(scope, receive, send)
            elif path in self._paths:
                await send_error(send, MethodNotAllowed(f"Method {scope['method']} is not allowed on {path}."))
            elif scope["method"] == "GET" and path.startswith(("/v1/models/", "/models/")):
                await self._model(scope, receive, send)
            elif path.startswith("/admin") and self.services is not None:
                if self.control_plane is None:  # built on first use: most workers never serve /admin
                    from wardgate.api.admin import build_control_plane

                    self.control_plane = build_control_plane(self.services)
                await self.control_plane(scope, receive, send)
            else:
                await send_error(send, NotFound(f"Invalid URL ({scope['method']} {path})."))
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        self.services = services = await open_services(self.settings)
        cost_of = cost_function(self.settings)
        backend = new_backend(services)
        self.limits = build_limits(self.settings, services, backend, cost_of)
        self.budget_refresher = BudgetRefresher(
            self.limits, BudgetStore(services.engine), self.settings.limits.refresh_s
        )
        await self.budget_refresher.load()
        self.budget_refresher.start()
        services.limits, services.budget_refresher = self.limits, self.budget_refresher
        services.rate_limit_refresher = RateLimitRefresher(
            self.limits, RateLimitStore(services.engine), self.settings.limits.refresh_s
        )
        await services.rate_limit_refresher.load()
        services.rate_limit_refresher.start()
        if isinstance(backend, MemoryLimits):  # embedded counters start from this window's ledger
            await rebuild_from_ledger(self.limits, services, model_classes(self.settings))
        self.metrics.add(budget_collector(self.limits), per_worker=False)
        self.metrics.add(routing_collector(services))
        self.metrics.add(cache_collector(services))
        self.metrics.start()
        self._runtime = assemble(self.settings, services, cost_of, self.limits)

    async def shutdown(self) -> None:
        self._runtime = None
        await self.metrics.stop()
        if self.budget_refresher is not None:
            await self.budget_refresher.stop()
        if self.services is not None and self.services.rate_limit_refresher is not None:
            await self.services.rate_limit_refresher.stop()
        if self.limits is not None:
            await self.limits.drain()  # settlements in flight reach the counters before Redis closes
        if self.services is not None:
            await self.services.close()
            self.services = None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # any failure to start must reach the server as a failed startup
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _live(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, {"status": "ok"})

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self.metrics.scrape()
        await send_bytes(send, 200, body, [], b"text/plain; version=0.0.4; charset=utf-8")

    async def _ready(self, scope: Scope, receive: Receive, send: Send) -> None:
        ready = self._runtime is not None and self.services is not None and not self.services.http.session.closed
        await send_json(send, 200 if ready else 503, {"status": "ready" if ready else "starting"})


def create_app(settings: Settings) -> Gateway:
    return Gateway(settings)


def app_from_env() -> Gateway:
    """The uvicorn factory for worker processes: the CLI validated the file and names it in WARDGATE_CONFIG."""
    return create_app(load_config(os.environ.get(CONFIG_ENV) or DEMO_CONFIG))
