"""Telemetry (issue 15): OpenTelemetry GenAI spans over OTLP/HTTP, bounded Prometheus metrics, the request log.

Imported only when ``telemetry:`` is configured (assemble.py): without it, none of this is loaded or assembled.
"""
