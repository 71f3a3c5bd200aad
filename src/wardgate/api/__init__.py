"""Inbound surfaces: the OpenAI API (and, later, Anthropic Messages, MCP, A2A) and the admin API."""
