"""Managed prompts: immutable content-addressed versions, labels, approvals, canaries, and the stage that renders a
request's prompt reference (docs/prompts.md)."""
