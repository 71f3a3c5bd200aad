"""The gateway's own request ids: 24 hex characters, time-ordered, never chosen by a client.

The first 12 characters are the milliseconds since the epoch, the last 12 are 48 random bits. Ordered by time, a new
id lands at the right edge of the ledger's unique index instead of on a random page: on SQLite that is one page
written per batch instead of one per row, and PostgreSQL's B-tree stays compact. 48 random bits per millisecond keep
ids from several replicas apart. The bits come from a generator seeded from the OS once per process (and again after
a fork), not from a system call per request; an id is an identifier echoed to the client, never a secret.
"""

from __future__ import annotations

import os
import random
import time

_random = random.Random(os.urandom(32))


def _reseed() -> None:
    _random.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def new_request_id() -> str:
    return f"{int(time.time() * 1000):012x}{_random.getrandbits(48):012x}"
