"""The OpenTelemetry GenAI semantic conventions Wardgate follows: every name comes from the pinned
``opentelemetry-semantic-conventions`` package (constraints.txt), never typed here.

``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` (read once, when the stage is built) selects the latest
experimental GenAI conventions only; without it, the provider is also named under the older ``gen_ai.system`` key so
tools that still read it see it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as ga
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as gm
from opentelemetry.semconv.attributes import error_attributes, server_attributes

OPT_IN_ENV = "OTEL_SEMCONV_STABILITY_OPT_IN"
LATEST_EXPERIMENTAL = "gen_ai_latest_experimental"

OPERATION_NAME = ga.GEN_AI_OPERATION_NAME
PROVIDER_NAME = ga.GEN_AI_PROVIDER_NAME
SYSTEM = ga.GEN_AI_SYSTEM  # the pre-1.37 name of the provider
REQUEST_MODEL = ga.GEN_AI_REQUEST_MODEL
RESPONSE_MODEL = ga.GEN_AI_RESPONSE_MODEL
REQUEST_STREAM = "gen_ai.request.stream"  # not (yet) a convention key; kept under the gen_ai namespace's style
REQUEST_MAX_TOKENS = ga.GEN_AI_REQUEST_MAX_TOKENS
REQUEST_TEMPERATURE = ga.GEN_AI_REQUEST_TEMPERATURE
INPUT_TOKENS = ga.GEN_AI_USAGE_INPUT_TOKENS
OUTPUT_TOKENS = ga.GEN_AI_USAGE_OUTPUT_TOKENS
CACHE_READ_TOKENS = ga.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
CACHE_CREATION_TOKENS = ga.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
REASONING_TOKENS = ga.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
TOKEN_TYPE = ga.GEN_AI_TOKEN_TYPE
INPUT_MESSAGES = ga.GEN_AI_INPUT_MESSAGES
OUTPUT_MESSAGES = ga.GEN_AI_OUTPUT_MESSAGES
TOOL_NAME = ga.GEN_AI_TOOL_NAME
EXECUTE_TOOL = ga.GenAiOperationNameValues.EXECUTE_TOOL.value  # an MCP tools/call's upstream call
ERROR_TYPE = error_attributes.ERROR_TYPE
SERVER_ADDRESS = server_attributes.SERVER_ADDRESS

TOKEN_USAGE = gm.GEN_AI_CLIENT_TOKEN_USAGE
OPERATION_DURATION = gm.GEN_AI_CLIENT_OPERATION_DURATION
TIME_TO_FIRST_TOKEN = gm.GEN_AI_SERVER_TIME_TO_FIRST_TOKEN
TIME_PER_OUTPUT_TOKEN = gm.GEN_AI_SERVER_TIME_PER_OUTPUT_TOKEN


class _Definition:
    """A stand-in for an OpenTelemetry ``Meter``: what a semconv ``create_*`` function asks of it is the metric's
    definition."""

    def create_histogram(self, name: str, unit: str = "", description: str = "", **_: Any) -> tuple[str, str, str]:
        return name, unit, description


def definition(create: Callable[[Any], Any]) -> tuple[str, str, str]:
    """(name, unit, description) of a semconv histogram, as its ``create_*`` function in the pinned package makes it."""
    found: tuple[str, str, str] = create(_Definition())
    return found


TOKEN_USAGE_DEF = definition(gm.create_gen_ai_client_token_usage)
OPERATION_DURATION_DEF = definition(gm.create_gen_ai_client_operation_duration)
TIME_TO_FIRST_TOKEN_DEF = definition(gm.create_gen_ai_server_time_to_first_token)
TIME_PER_OUTPUT_TOKEN_DEF = definition(gm.create_gen_ai_server_time_per_output_token)

# the explicit bucket boundaries the conventions specify for each metric (its "ExplicitBucketBoundaries" advice)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)

# gen_ai.operation.name of each Wardgate operation
OPERATIONS: Mapping[str, str] = {
    "chat": ga.GenAiOperationNameValues.CHAT.value,
    "completions": ga.GenAiOperationNameValues.TEXT_COMPLETION.value,
    "embeddings": ga.GenAiOperationNameValues.EMBEDDINGS.value,
}

# gen_ai.provider.name of each provider `type:`; other types are named by their type
PROVIDERS: Mapping[str, str] = {
    "openai": ga.GenAiProviderNameValues.OPENAI.value,
    "azure": ga.GenAiProviderNameValues.AZURE_AI_OPENAI.value,
    "anthropic": ga.GenAiProviderNameValues.ANTHROPIC.value,
    "bedrock": ga.GenAiProviderNameValues.AWS_BEDROCK.value,
    "vertex": ga.GenAiProviderNameValues.GCP_VERTEX_AI.value,
    "gemini": ga.GenAiProviderNameValues.GCP_GEN_AI.value,
    "cohere": ga.GenAiProviderNameValues.COHERE.value,
    "mistral": ga.GenAiProviderNameValues.MISTRAL_AI.value,
    "groq": ga.GenAiProviderNameValues.GROQ.value,
    "deepseek": ga.GenAiProviderNameValues.DEEPSEEK.value,
    "xai": ga.GenAiProviderNameValues.X_AI.value,
}


def latest_experimental(env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get(OPT_IN_ENV, "")
    return LATEST_EXPERIMENTAL in (part.strip() for part in value.split(","))
