"""Prompts, their immutable versions and labels (docs/prompts.md). Approvals and canaries: prompt_reviews.py.

A version is content-addressed: pushing the same content again returns the stored row, on any replica, however many
push it at once. A label move is one transaction that bumps the label's ``generation``; every worker re-reads the
labels every ``prompts.refresh_s`` and so follows the move.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wardgate.store.common import Conflict, NotFoundInStore, now
from wardgate.store.tables import prompt_canaries, prompt_labels, prompt_versions, prompts

SYSTEM = ""  # the project id of a prompt every project may use


@dataclass(frozen=True, slots=True)
class PromptRow:
    project_id: str
    name: str
    description: str | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VersionRow:
    project_id: str
    prompt: str
    id: str
    number: int
    spec: dict[str, Any]
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LabelRow:
    project_id: str
    prompt: str
    label: str
    version: str
    previous: str | None
    generation: int
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LabelMove:
    """One move of a label, for the audit trail: where it pointed before and after."""

    label: str
    before: str | None
    after: str
    generation: int


@dataclass(frozen=True, slots=True)
class CanaryRow:
    project_id: str
    prompt: str
    label: str
    id: str
    version: str
    percent: float
    sticky: str
    rollback: dict[str, Any]
    started_by: str
    started_at: datetime


class PromptStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # -- prompts ---------------------------------------------------------------------------------------------------

    async def create(self, project_id: str, name: str, description: str | None, actor: str) -> PromptRow:
        row = PromptRow(project_id, name, description, actor, now())
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    prompts.insert().values(
                        project_id=project_id,
                        name=name,
                        description=description,
                        created_by=actor,
                        created_at=row.created_at,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"a prompt named {name!r} already exists here") from exc
        return row

    async def list(self, project_ids: Sequence[str] | None) -> list[PromptRow]:
        query = select(prompts).order_by(prompts.c.project_id, prompts.c.name)
        if project_ids is not None:
            query = query.where(prompts.c.project_id.in_(list(project_ids)))
        async with self.engine.connect() as conn:
            return [PromptRow(**r._mapping) for r in await conn.execute(query)]

    async def get(self, project_id: str, name: str) -> PromptRow:
        query = select(prompts).where(prompts.c.project_id == project_id, prompts.c.name == name)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFoundInStore(f"no prompt {name!r}")
        return PromptRow(**row._mapping)

    # -- versions --------------------------------------------------------------------------------------------------

    async def push(
        self, project_id: str, name: str, vid: str, spec: Mapping[str, Any], actor: str
    ) -> tuple[VersionRow, bool]:
        """The version of this content, and whether this call created it (False: it existed already)."""
        await self.get(project_id, name)
        for _ in range(5):  # concurrent pushes of other content may take the next number first
            existing = await self.version(project_id, name, vid, missing_ok=True)
            if existing is not None:
                return existing, False
            try:
                async with self.engine.begin() as conn:
                    top = await conn.scalar(
                        select(func.max(prompt_versions.c.number)).where(
                            prompt_versions.c.project_id == project_id, prompt_versions.c.prompt == name
                        )
                    )
                    row = VersionRow(project_id, name, vid, int(top or 0) + 1, dict(spec), actor, now())
                    await conn.execute(prompt_versions.insert().values(**_fields(row)))
                return row, True
            except IntegrityError:
                continue
        raise Conflict(f"prompt {name!r} is being changed by many writers at once; try again")

    async def version(self, project_id: str, name: str, vid: str, *, missing_ok: bool = False) -> VersionRow | None:
        query = select(prompt_versions).where(
            prompt_versions.c.project_id == project_id, prompt_versions.c.prompt == name, prompt_versions.c.id == vid
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            if missing_ok:
                return None
            raise NotFoundInStore(f"prompt {name!r} has no version {vid!r}")
        return VersionRow(**row._mapping)

    async def version_by_number(self, project_id: str, name: str, number: int) -> VersionRow | None:
        query = select(prompt_versions).where(
            prompt_versions.c.project_id == project_id,
            prompt_versions.c.prompt == name,
            prompt_versions.c.number == number,
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else VersionRow(**row._mapping)

    async def versions(self, project_id: str, name: str) -> builtins.list[VersionRow]:
        query = (
            select(prompt_versions)
            .where(prompt_versions.c.project_id == project_id, prompt_versions.c.prompt == name)
            .order_by(prompt_versions.c.number)
        )
        async with self.engine.connect() as conn:
            return [VersionRow(**r._mapping) for r in await conn.execute(query)]

    async def versions_by_id(self, keys: Sequence[tuple[str, str, str]]) -> builtins.list[VersionRow]:
        """The versions of (project_id, prompt, id) keys, for a worker's refresh: only those it has not compiled."""
        if not keys:
            return []
        key = tuple_(prompt_versions.c.project_id, prompt_versions.c.prompt, prompt_versions.c.id)
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(prompt_versions).where(key.in_(list(keys))))
            return [VersionRow(**r._mapping) for r in rows]

    # -- labels ----------------------------------------------------------------------------------------------------

    async def labels(self, project_id: str | None = None, name: str | None = None) -> builtins.list[LabelRow]:
        query = select(prompt_labels).order_by(
            prompt_labels.c.project_id, prompt_labels.c.prompt, prompt_labels.c.label
        )
        if project_id is not None and name is not None:
            query = query.where(prompt_labels.c.project_id == project_id, prompt_labels.c.prompt == name)
        async with self.engine.connect() as conn:
            return [LabelRow(**r._mapping) for r in await conn.execute(query)]

    async def canaries(self, project_id: str | None = None, name: str | None = None) -> builtins.list[CanaryRow]:
        query = select(prompt_canaries)
        if project_id is not None and name is not None:
            query = query.where(prompt_canaries.c.project_id == project_id, prompt_canaries.c.prompt == name)
        async with self.engine.connect() as conn:
            return [CanaryRow(**r._mapping) for r in await conn.execute(query)]

    async def rollback(self, project_id: str, name: str, label: str, to: str | None, actor: str) -> LabelMove:
        """Point the label back: to ``to``, else to where it pointed before its last move."""
        async with self.engine.begin() as conn:
            current = await _label_for_update(conn, project_id, name, label)
            if current is None:
                raise NotFoundInStore(f"prompt {name!r} has no label {label!r}")
            target = to if to is not None else current.previous
            if target is None:
                raise Conflict(f"label {label!r} has never moved: name the version to roll back to (`to`)")
            return await move_label(conn, project_id, name, label, target, actor, current)


async def move_label(
    conn: AsyncConnection,
    project_id: str,
    name: str,
    label: str,
    version: str,
    actor: str,
    current: LabelRow | None | bool = False,
) -> LabelMove:
    """Move one label inside the caller's transaction (``current``: the row already read for update, if it was)."""
    exists = await conn.scalar(
        select(func.count())
        .select_from(prompt_versions)
        .where(
            prompt_versions.c.project_id == project_id,
            prompt_versions.c.prompt == name,
            prompt_versions.c.id == version,
        )
    )
    if not exists:
        raise NotFoundInStore(f"prompt {name!r} has no version {version!r}")
    row = await _label_for_update(conn, project_id, name, label) if current is False else current
    stamp = now()
    if row is None or isinstance(row, bool):
        try:
            async with conn.begin_nested():  # two first moves of one label at once: one wins, the other is told
                await _insert_label(conn, project_id, name, label, version, actor, stamp)
        except IntegrityError:
            raise Conflict(f"label {label!r} was created by another change at the same time; try again") from None
        return LabelMove(label, None, version, 1)
    await conn.execute(
        prompt_labels.update()
        .where(prompt_labels.c.project_id == project_id, prompt_labels.c.prompt == name, prompt_labels.c.label == label)
        .values(
            version=version,
            previous=row.version,
            generation=row.generation + 1,
            updated_by=actor,
            updated_at=stamp,
        )
    )
    return LabelMove(label, row.version, version, row.generation + 1)


async def _insert_label(
    conn: AsyncConnection, project_id: str, name: str, label: str, version: str, actor: str, stamp: datetime
) -> None:
    await conn.execute(
        prompt_labels.insert().values(
            project_id=project_id,
            prompt=name,
            label=label,
            version=version,
            previous=None,
            generation=1,
            updated_by=actor,
            updated_at=stamp,
        )
    )


async def _label_for_update(conn: AsyncConnection, project_id: str, name: str, label: str) -> LabelRow | None:
    query = (
        select(prompt_labels)
        .where(prompt_labels.c.project_id == project_id, prompt_labels.c.prompt == name, prompt_labels.c.label == label)
        .with_for_update()
    )
    row = (await conn.execute(query)).first()
    return None if row is None else LabelRow(**row._mapping)


def _fields(row: VersionRow) -> dict[str, Any]:
    return {
        "project_id": row.project_id,
        "prompt": row.prompt,
        "id": row.id,
        "number": row.number,
        "spec": row.spec,
        "author": row.author,
        "created_at": row.created_at,
    }


async def read_spec(store: PromptStore, owner: str, prompt: str, vid: str) -> dict[str, Any] | None:
    """A version's content by id: the owner's prompt of that name first, then the system-wide one (an artifact a
    version references, prompts/artifacts.py)."""
    for project_id in (owner, SYSTEM) if owner != SYSTEM else (SYSTEM,):
        row = await store.version(project_id, prompt, vid, missing_ok=True)
        if row is not None:
            return row.spec
    return None
