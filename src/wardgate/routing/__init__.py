"""Choosing a deployment for a call: strategies, health, fall-backs, canaries."""
