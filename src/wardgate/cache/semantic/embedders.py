"""What turns the compared text into a unit vector: the bundled offline model, or an embeddings deployment."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Protocol

import numpy as np

from wardgate.core.call import Call
from wardgate.core.errors import UpstreamError

if TYPE_CHECKING:
    from wardgate.cache.semantic.minilm import MiniLM, Vector
    from wardgate.core.deployment import Deployment


class Embedder(Protocol):
    name: str

    async def embed(self, text: str) -> Vector: ...


class LocalEmbedder:
    """all-MiniLM-L6-v2 in this process. Loaded once, lazily, on the first embedding; the forward pass (tens of
    milliseconds of CPU) runs in a worker thread so the event loop keeps serving."""

    name = "local"

    def __init__(self, model: MiniLM | None = None) -> None:
        if model is None:
            from wardgate.cache.semantic.minilm import MiniLM

            model = MiniLM()
        self.model = model

    async def embed(self, text: str) -> Vector:
        return await asyncio.to_thread(self.model.embed, text)


class DeploymentEmbedder:
    """A configured embeddings model (``models:`` name), called directly through its adapter.

    It bypasses the pipeline on purpose: this is the gateway's own lookup, not a client's call, so it is neither
    cached nor billed to the caller's project (its cost shows at the provider).
    """

    def __init__(self, model: str, deployments: Sequence[Deployment]) -> None:
        self.name = model
        usable = [d for d in deployments if d.adapter.supports("embeddings")]
        if not usable:
            raise ValueError(f"model {model!r} has no deployment that serves embeddings")
        self._deployment = usable[0]

    async def embed(self, text: str) -> Vector:
        call = Call(
            id="cache-embed-" + os.urandom(6).hex(),
            surface="openai",
            operation="embeddings",
            model=self.name,
            body={"model": self.name, "input": text},
            stream=False,
            credential=None,
            started=perf_counter(),
        )
        call.deployment = self._deployment
        result = await self._deployment.adapter.send(call)
        try:
            values = result.body["data"][0]["embedding"]
        except (KeyError, IndexError, TypeError) as exc:
            raise UpstreamError(f"{self.name}: the embeddings answer has no data[0].embedding") from exc
        vector = np.asarray(values, dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        return vector / max(norm, 1e-12)
