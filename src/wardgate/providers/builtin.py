"""Imports every built-in provider module so that each registers its types."""

from wardgate.providers import mock, openai  # noqa: F401
