"""Config → the guards stage."""

from __future__ import annotations

from wardgate.config.schema import Settings
from wardgate.core.batching import BatchWriter
from wardgate.guards.engine import compile_guards
from wardgate.guards.stage import GuardsStage
from wardgate.store.audit import AuditEntry


def build_guards_stage(settings: Settings, audit: BatchWriter[AuditEntry] | None) -> GuardsStage:
    """Always assembled, since guards made in the admin API apply without a restart; with none, a call costs one
    empty-tuple test and a streamed chunk one attribute test."""
    return GuardsStage(compile_guards(settings.guards), settings.guards_stream.holdback_chars, audit)
