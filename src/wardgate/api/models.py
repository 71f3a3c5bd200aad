"""The ``model`` objects of ``GET /v1/models``: what the catalog and the configuration know about each public model.

``owned_by`` is the vendor: the price catalog's family of the model's first deployment (``openai``, ``anthropic``,
``gemini`` …), else that provider's config ``type``. ``created`` is the model's snapshot date when its upstream id
carries one (``gpt-4o-mini-2024-07-18``, ``claude-3-5-haiku-20241022``), else the date the catalog last confirmed the
model (its family's ``as_of``), else 0 (unknown). Both are stable across restarts and replicas, unlike a process start
time, so clients that cache the list see no change that did not happen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from wardgate.core.deployment import Deployment
from wardgate.usage.pricing import load_catalog, normalise_model_id

_SNAPSHOT = re.compile(r"-(\d{4})-?(\d{2})-?(\d{2})$")


def model_object(name: str, deployments: Sequence[Deployment]) -> dict[str, Any]:
    if not deployments:
        return {"id": name, "object": "model", "created": 0, "owned_by": "wardgate"}
    first = deployments[0]
    owned_by, created = _known(first.adapter.type, first.upstream_model)
    return {"id": name, "object": "model", "created": created, "owned_by": owned_by}


@lru_cache(maxsize=1024)  # keys come from the configuration: a bounded set
def _known(provider_type: str, upstream_model: str) -> tuple[str, int]:
    owned_by, created = provider_type, 0
    for family in load_catalog().families.values():
        if provider_type in family.provider_types and (
            upstream_model in family.prices or normalise_model_id(upstream_model) in family.prices
        ):
            owned_by, created = family.name, _epoch(family.as_of)
            break
    snapshot = _SNAPSHOT.search(upstream_model)
    if snapshot is not None:
        with suppress(ValueError):  # digits that are not a date (a version number)
            created = _epoch(date(*(int(part) for part in snapshot.groups())))
    return owned_by, created


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
