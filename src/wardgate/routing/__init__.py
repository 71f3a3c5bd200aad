"""Choosing a deployment for a call: strategies, health, breakers, fall-backs, retries, canaries, the classifier."""
