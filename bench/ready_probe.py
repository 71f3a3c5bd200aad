"""A readiness prober in a process of its own (as the kubelet is): a new connection and `GET /health/ready` every
``--every`` ms, each waited for up to 1 s (the kubelet's default timeoutSeconds), never one waiting on another.
Prints one JSON line per probe: when it was sent (CLOCK_MONOTONIC, ns: comparable across processes on one host) and
its outcome (the status, "refused" or "timeout"). Used by bench/drain.py.

    python -m bench.ready_probe HOST PORT SECONDS [--every 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import orjson


async def probe(host: str, port: int) -> str:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (ConnectionRefusedError, ConnectionResetError):
        return "refused"
    except (TimeoutError, OSError):
        return "timeout"
    try:
        writer.write(f"GET /health/ready HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), 1.0)
        parts = line.split()
        return parts[1].decode() if len(parts) >= 2 else "closed"
    except TimeoutError:
        return "timeout"
    except OSError:
        return "reset"
    finally:
        writer.close()


async def run(host: str, port: int, seconds: float, every_ms: float) -> None:
    pending: list[asyncio.Task[None]] = []
    out: list[tuple[int, str]] = []

    async def one() -> None:
        sent = time.monotonic_ns()
        out.append((sent, await probe(host, port)))

    first = await probe(host, port)  # the caller waits for this line before it signals the server
    sys.stdout.write(orjson.dumps({"first": first}).decode() + "\n")
    sys.stdout.flush()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pending.append(asyncio.ensure_future(one()))
        await asyncio.sleep(every_ms / 1000)
    await asyncio.gather(*pending)
    for sent, outcome in sorted(out):
        sys.stdout.write(orjson.dumps({"sent_ns": sent, "outcome": outcome}).decode() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--every", type=float, default=2.0, help="ms between probes")
    args = parser.parse_args()
    asyncio.run(run(args.host, args.port, args.seconds, args.every))


if __name__ == "__main__":
    main()
