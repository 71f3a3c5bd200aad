"""The ASGI app: a plain route table for the data plane, health, and the lifespan that builds each worker's runtime.

Wiring only: nothing here decides anything about a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType

from wardgate.announcements import config_subscription
from wardgate.api.anthropic import AnthropicSurface
from wardgate.api.asgi import Receive, Scope, Send, send_bytes, send_error, send_json
from wardgate.api.batch_settle import BatchSettler
from wardgate.api.files import BATCH_PREFIXES, FILE_PREFIXES, FilesSurface
from wardgate.api.media import MediaSurface
from wardgate.api.openai import OpenAISurface
from wardgate.api.realtime import PATHS as REALTIME_PATHS
from wardgate.api.realtime import RealtimeSurface
from wardgate.api.realtime_calls import PREFIXES as CALL_PREFIXES
from wardgate.api.realtime_calls import RealtimeCallsSurface
from wardgate.api.responses import PREFIXES as RESPONSE_PREFIXES
from wardgate.api.responses import ResponsesSurface
from wardgate.api.videos import PREFIXES as VIDEO_PREFIXES
from wardgate.api.videos import VideosSurface
from wardgate.assemble import Worker, open_worker, reassemble
from wardgate.cache.metrics import cache_collector
from wardgate.config import Settings, load_config
from wardgate.config.loader import DEMO_CONFIG
from wardgate.config.secrets import SecretBox
from wardgate.core.errors import MethodNotAllowed, NotFound
from wardgate.core.runtime import Runtime
from wardgate.guards.metrics import guard_collector
from wardgate.limits.metrics import budget_collector
from wardgate.observability.metrics import Metrics, shared_counters_from_env
from wardgate.reload.catalog import CatalogSource
from wardgate.reload.listener import ConfigEventListener
from wardgate.reload.plan import Plan
from wardgate.reload.reloader import ConfigReloader, open_reloader
from wardgate.routing.metrics import routing_collector
from wardgate.server.memory import MemoryTrimmer
from wardgate.store.applied_config import AppliedConfigStore
from wardgate.store.catalog import CatalogStore
from wardgate.store.provider_objects import ProviderObjectStore
from wardgate.store.responses import ResponseStore
from wardgate.usage import tokens

log = logging.getLogger("wardgate")
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
CONFIG_ENV = "WARDGATE_CONFIG"
LANGFUSE_PREFIX = "/api/public/v2/prompts/"  # api/langfuse.py's PREFIX: that module loads only when prompts: is set


class Gateway:
    """One worker's ASGI application."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runtime: Runtime | None = None
        self.worker: Worker | None = None
        self.control_plane: Handler | None = None  # the admin API (Starlette), mounted at /admin
        self.langfuse: Handler | None = None  # GET /api/public/v2/prompts/{name}, when prompts: is configured
        self.console: Handler | None = None  # the web console's static pages at /ui (wardgate/ui), built on first use
        self.vocabularies: asyncio.Future[None] | None = None  # the tokenizer preload, started at start-up
        self.config_path: Path | None = None  # the file the config came from: SIGHUP and --watch re-read it
        self.config_digest: str | None = None  # sha256 of the file's bytes as loaded
        self.watch = False  # `wardgate serve --watch`
        self.reloader: ConfigReloader | None = None
        self.config_events: ConfigEventListener | None = None
        surface = OpenAISurface(self.runtime)
        anthropic = AnthropicSurface(self.runtime)
        responses = ResponsesSurface(self.runtime, self._responses)
        media = MediaSurface(self.runtime, self._provider_objects)
        files = FilesSurface(self.runtime, self._provider_objects)
        videos = VideosSurface(self.runtime, self._provider_objects)
        calls = RealtimeCallsSurface(self.runtime, self._provider_objects)
        post: dict[str, Handler] = {
            "/chat/completions": surface.chat,
            "/completions": surface.completions,
            "/embeddings": surface.embeddings,
            "/moderations": surface.moderations,
            "/rerank": surface.rerank,
            "/realtime/client_secrets": surface.realtime_secret,
            "/realtime/translations/client_secrets": surface.translate_secret,
            "/realtime/calls": calls.create,
            "/messages": anthropic.messages,
            "/messages/count_tokens": anthropic.count_tokens,
            "/responses": responses.create,
            "/audio/transcriptions": media.transcriptions,
            "/audio/translations": media.translations,
            "/audio/speech": media.speech,
            "/images/generations": media.images,
            "/images/edits": media.image_edits,
            "/images/variations": media.image_variations,
            "/files": files.files,
            "/batches": files.batches,
            "/videos": media.videos,
        }
        get: dict[str, Handler] = {
            "/models": surface.models,
            "/files": files.files,
            "/batches": files.batches,
            "/videos": videos.videos_list,
        }
        self._routes: dict[tuple[str, str], Handler] = {}
        for method, table in (("POST", post), ("GET", get)):
            for path, handler in table.items():
                self._routes[(method, "/v1" + path)] = handler
                self._routes[(method, path)] = handler  # clients configured without the /v1 suffix
        self._routes[("GET", "/health/live")] = self._live
        self._routes[("GET", "/health/ready")] = self._ready
        self._routes[("GET", "/metrics")] = self._metrics
        self.metrics = Metrics(shared_counters_from_env())
        self.draining = False  # SIGTERM arrived: readiness answers 503 from then on
        self._paths = {path for _, path in self._routes}
        self._model = surface.model
        self._response = responses.resource
        self._file = files.file
        self._batch = files.batch
        self._video = videos.video
        self._call = calls.control
        self._realtime = RealtimeSurface(self.runtime)
        self.memory_trimmer = MemoryTrimmer(settings.server.memory_trim_s)
        self.batch_settler = BatchSettler(self.runtime, self._provider_objects, lambda: self.settings)

    def _console(self) -> Handler:
        if self.console is None:
            from wardgate.api.admin.session_codec import codec_for
            from wardgate.ui.serve import Console

            self.console = Console(codec_for(self.settings))
        return self.console

    def _langfuse(self, worker: Worker) -> Handler:
        """The Langfuse-compatible prompt reads (api/langfuse.py), built on first use over the current worker."""
        if self.langfuse is None:
            from wardgate.api.langfuse import LangfusePrompts
            from wardgate.store.prompts import PromptStore

            self.langfuse = LangfusePrompts(
                PromptStore(worker.engine), lambda key: self.runtime().authenticate(key), worker.store_outage
            )
        return self.langfuse

    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the gateway has not started (lifespan startup did not run)")
        return self._runtime

    def _provider_objects(self) -> ProviderObjectStore:
        if self.worker is None:
            raise RuntimeError("the gateway has not started (lifespan startup did not run)")
        return self.worker.provider_objects

    def _responses(self) -> ResponseStore:
        if self.worker is None:
            raise RuntimeError("the gateway has not started (lifespan startup did not run)")
        return self.worker.responses

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
            elif path.startswith(RESPONSE_PREFIXES):
                await self._response(scope, receive, send)
            elif path.startswith(LANGFUSE_PREFIX) and self.worker is not None and self.worker.prompts is not None:
                await self._langfuse(self.worker)(scope, receive, send)
            elif path.startswith(FILE_PREFIXES):
                await self._file(scope, receive, send)
            elif path.startswith(BATCH_PREFIXES):
                await self._batch(scope, receive, send)
            elif path.startswith(VIDEO_PREFIXES):
                await self._video(scope, receive, send)
            elif path.startswith(CALL_PREFIXES):
                await self._call(scope, receive, send)
            elif path.startswith("/mcp/") and self.worker is not None and self.worker.mcp is not None:
                await self.worker.mcp(scope, receive, send)
            elif path.startswith("/admin") and self.worker is not None:
                if self.control_plane is None:  # built on first use: most workers never serve /admin
                    from wardgate.api.admin import build_control_plane

                    self.control_plane = build_control_plane(self.worker, self.reloader)
                await self.control_plane(scope, receive, send)
            elif (path == "/ui" or path.startswith("/ui/")) and self.settings.ui.enabled:
                await self._console()(scope, receive, send)
            else:
                await send_error(send, NotFound(f"Invalid URL ({scope['method']} {path})."))
        elif scope["type"] == "websocket":
            if scope["path"] in REALTIME_PATHS:
                await self._realtime(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008, "reason": "no WebSocket at this path"})
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        if self.settings.server.preload_tokenizers:  # not awaited: start-up goes on while they load
            self.vocabularies = preload_vocabularies(vocabularies_of(self.settings))
        self.worker = worker = await open_worker(self.settings)
        self.metrics.add(budget_collector(worker.limits), per_worker=False)
        self.metrics.add(routing_collector(worker.routing))
        self.metrics.add(cache_collector(worker.cache))
        self.metrics.add(guard_collector(worker.guards))
        if worker.telemetry is not None:
            self.metrics.add(worker.telemetry.collector())
        self.metrics.start()
        self._runtime = worker.runtime
        if self.settings.files is not None:
            self.batch_settler.start()  # batches that end upstream are metered even if nobody retrieves them
        self.reloader, self.config_events = await open_reloader(
            self.settings,
            lambda: self.settings,
            self._apply,
            AppliedConfigStore(worker.engine),
            config_subscription(worker),
            path=self.config_path,
            watch=self.watch,
            loaded_digest=self.config_digest,
            reload_limits=self._reload_limits,
            catalog=CatalogSource(CatalogStore(worker.engine), SecretBox.of(self.settings)),
        )
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # only the main thread gets signals
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reloader.poke)
        with contextlib.suppress(ValueError):
            self._chain_sigterm()
        # what start-up made (modules, the worker, the pipeline) lives as long as the process: full collections skip
        # it from now on, so they no longer stall the event loop for tens of ms (seen as hot-reload p99 outliers)
        gc.freeze()
        self.memory_trimmer.start()

    def _chain_sigterm(self) -> None:
        """Readiness turns 503 the moment SIGTERM arrives, before uvicorn's next 0.1 s tick closes the listening
        socket (a probe accepted meanwhile must not read 200); uvicorn's own handler then runs as before."""
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(sig: int, frame: FrameType | None) -> None:
            self.draining = True
            if callable(previous):
                previous(sig, frame)

        signal.signal(signal.SIGTERM, on_sigterm)

    async def _reload_limits(self) -> None:
        """Another worker or replica changed budgets or rate limits in the admin API."""
        if self.worker is not None:
            await self.worker.budget_refresher.load()
            await self.worker.rate_limit_refresher.load()
            if self.worker.mcp is not None:  # MCP tool policies made in the admin API
                await self.worker.mcp.reload_managed()

    async def _apply(self, change: Plan) -> None:
        """Swap in a pipeline built from the new config: one assignment, seen whole by the next request."""
        assert self.worker is not None
        self.worker = await reassemble(self.worker, change.settings)
        self.settings = change.settings
        self.control_plane = None  # rebuilt on first use, over the new worker
        self.langfuse = None
        self._runtime = self.worker.runtime

    async def shutdown(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        for closing in (self.config_events, self.reloader):
            if closing is not None:
                await closing.close()
        self._runtime = None
        await self.metrics.stop()
        await self.memory_trimmer.close()
        await self.batch_settler.close()
        if self.worker is not None:
            await self.worker.close()
            self.worker = None

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
        if self.draining:
            await send_json(send, 503, {"status": "draining"})
            return
        ready = self._runtime is not None and self.worker is not None and not self.worker.http.session.closed
        await send_json(send, 200 if ready else 503, {"status": "ready" if ready else "starting"})


def vocabularies_of(settings: Settings) -> frozenset[str]:
    """The encodings exact counts of this config can use: the public and the upstream names of every model."""
    names = {name for name in settings.models}
    names.update(entry.model for entries in settings.models.values() for entry in entries)
    return frozenset(tokens.encoding_name(name) for name in names)


def preload_vocabularies(names: frozenset[str]) -> asyncio.Future[None]:
    """Read the tokenizer vocabularies in a thread, so the first exact count neither waits for them nor blocks the
    event loop while they are parsed (0.5-1 s inline)."""
    loaded = asyncio.get_running_loop().run_in_executor(None, tokens.preload, sorted(names))
    loaded.add_done_callback(_preloaded)
    return loaded


def _preloaded(loaded: asyncio.Future[None]) -> None:
    if not loaded.cancelled() and (exc := loaded.exception()) is not None:
        log.warning("tokenizer vocabularies not preloaded (%s); counts will load them on first use", exc)


def create_app(settings: Settings) -> Gateway:
    return Gateway(settings)


def app_from_env() -> Gateway:
    """The uvicorn factory for worker processes: the CLI validated the file and names it in WARDGATE_CONFIG."""
    path = Path(os.environ.get(CONFIG_ENV) or DEMO_CONFIG)
    gateway = create_app(load_config(path))
    gateway.config_path = path
    return gateway
