"""Anomaly detection and alerts on the ledger (issue 15; docs/observability.md)."""
