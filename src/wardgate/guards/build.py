"""Config → the guards stage, or None when no guard is configured (then it costs nothing: it is not assembled)."""

from __future__ import annotations

from wardgate.config.schema import Settings
from wardgate.core.batching import BatchWriter
from wardgate.guards.engine import compile_guards
from wardgate.guards.stage import GuardsStage
from wardgate.store.audit import AuditEntry


def build_guards_stage(settings: Settings, audit: BatchWriter[AuditEntry] | None) -> GuardsStage | None:
    if not settings.guards:
        return None
    return GuardsStage(compile_guards(settings.guards), settings.guards_stream.holdback_chars, audit)
