"""In-process single-flight: concurrent identical misses on one replica wait for one leader instead of each calling
upstream. Across replicas the Redis lock (cache/redis.py) does the same; the local leader is the only one of its
replica that takes part in that."""

from __future__ import annotations

import asyncio


class Flight:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = asyncio.Event()


class SingleFlight:
    __slots__ = ("_flights", "coalesced")

    def __init__(self) -> None:
        self._flights: dict[str, Flight] = {}
        self.coalesced = 0  # followers that waited on a leader (a Prometheus counter)

    def join(self, key: str) -> tuple[Flight, bool]:
        """The flight for ``key`` and whether the caller leads it (then it must call ``finish``, whatever happens)."""
        flight = self._flights.get(key)
        if flight is not None:
            self.coalesced += 1
            return flight, False
        flight = self._flights[key] = Flight()
        return flight, True

    def finish(self, key: str, flight: Flight) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        flight.done.set()

    @staticmethod
    async def wait(flight: Flight, timeout_s: float) -> bool:
        """True if the leader finished in time (it may still have stored nothing: the caller looks again)."""
        try:
            await asyncio.wait_for(flight.done.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def __len__(self) -> int:
        return len(self._flights)
