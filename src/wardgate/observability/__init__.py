"""Metrics, traces and analytics."""
