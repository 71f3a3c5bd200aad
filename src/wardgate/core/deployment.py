"""A deployment: one provider serving one upstream model, and the adapter interface it is reached through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from wardgate.core.call import Call, ChunkStream, Result


class Adapter(Protocol):
    """What the pipeline needs of a provider adapter (providers/ implements it, one module per wire format)."""

    name: str  # the provider's name in config
    type: str  # the provider's config ``type:``

    def supports(self, operation: str) -> bool: ...

    async def send(self, call: Call) -> Result:
        """Send a non-streamed request; raise a WardgateError for any failure."""
        ...

    async def open_stream(self, call: Call) -> ChunkStream:
        """Start a streamed request and return its chunks once the provider has accepted it.

        Errors the provider reports before the stream starts are raised here, so the surface can still answer with
        the right status; errors during iteration are raised from the iterator as WardgateErrors.
        """
        ...


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``first_byte`` bounds the wait for the provider's response headers and, on a stream, every gap
    between two reads; ``total`` bounds the whole exchange."""

    connect: float = 10.0
    first_byte: float = 120.0
    total: float = 600.0


@dataclass(frozen=True, slots=True)
class Deployment:
    name: str  # "<provider>/<upstream model>", shown in x-wardgate-deployment
    provider: str
    upstream_model: str
    adapter: Adapter
    timeouts: Timeouts = Timeouts()
    weight: float = 1.0
