"""The ledger stage: one usage event per call into the batched, idempotent usage ledger."""
