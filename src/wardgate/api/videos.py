"""Video jobs after their creation (``POST /v1/videos`` is a media call: api/media.py): ``GET /v1/videos`` (the
caller's own), ``GET``/``DELETE /v1/videos/{id}`` and ``GET /v1/videos/{id}/content`` (relayed as it arrives,
``variant`` passed on), each at the provider that made the video and only for its owner (another's id is a 404).
Remixes are not served yet (a 404 naming the path)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wardgate.api.asgi import Receive, Scope, Send, send_bytes
from wardgate.api.batch_settle import valid_id
from wardgate.api.files import FilesSurface, query_of
from wardgate.api.openai import id_headers, request_meta
from wardgate.core.errors import InvalidRequest, NotFound

if TYPE_CHECKING:
    from wardgate.core.runtime import Runtime
    from wardgate.providers.files import FileHost

PREFIXES = ("/v1/videos/", "/videos/")
_VARIANTS = frozenset({"video", "thumbnail", "spritesheet"})


def host_for(runtime: Runtime, provider: str | None) -> FileHost:
    """The provider (by name; None: the first serving videos) as a host of downloads and job reads."""
    for deployments in runtime.deployments.values():
        for deployment in deployments:
            adapter: Any = deployment.adapter
            if (provider is None or deployment.provider == provider) and adapter.supports("videos"):
                host: FileHost = adapter.file_host()
                return host
    raise NotFound("No configured provider serves videos.")


class VideosSurface(FilesSurface):
    async def videos_list(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._list(scope, send, "video", "/videos", lambda runtime: host_for(runtime, None))

    async def video(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self._runtime()
        credential, request_id, client_id, _ = request_meta(scope)
        headers = id_headers(request_id, client_id)
        path: str = scope["path"]
        rest = path[len(next(p for p in PREFIXES if path.startswith(p))) :]
        video_id, _, tail = rest.partition("/")
        method = scope["method"]

        async def handle() -> None:
            if (tail, method) not in (("", "GET"), ("", "DELETE"), ("content", "GET")):
                raise NotFound(f"Invalid URL ({method} {path}).")
            owner = await self._owner(scope, runtime, credential)
            stored = await self._objects().get(video_id, "video", owner) if valid_id(video_id) else None
            if stored is None:
                raise NotFound(f"Video with id '{video_id[:128]}' not found.", param="video_id")
            host = host_for(runtime, stored.provider)
            if tail == "content":
                variant = query_of(scope, frozenset({"variant"})).get("variant")
                if variant is not None and variant not in _VARIANTS:
                    raise InvalidRequest(
                        f"Invalid 'variant': expected one of {', '.join(sorted(_VARIANTS))}.", param="variant"
                    )
                query = {"variant": variant} if variant else None
                await self._download(send, host, f"/videos/{video_id}/content", headers, query)
                return
            raw = await host.request(method, f"/videos/{video_id}")
            if method == "DELETE":
                await self._objects().delete(video_id, "video", owner)
            await send_bytes(send, 200, raw, headers)

        await self._guarded(scope, send, handle, headers)
