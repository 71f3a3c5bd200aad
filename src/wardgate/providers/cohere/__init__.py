"""``type: cohere``: Cohere's API v2, Chat (``POST /v2/chat``, streamed or not) and Embed (``POST /v2/embed``).

What an OpenAI request may carry, and what happens to it:
- Sent, translated: messages (system/developer → system; user text and image parts; assistant text, tool calls and
  their text as ``tool_plan``; tool results), tools and tool_choice (auto, none, required, one named function),
  temperature, top_p → p, max_tokens / max_completion_tokens, stop → stop_sequences, seed, frequency_penalty,
  presence_penalty, logprobs, response_format (json_object, json_schema → json_object with its schema),
  all-strict tools → strict_tools. Extra fields a client may add for Cohere: top_k → k, safety_mode, thinking,
  priority. Embeddings: input (text), dimensions → output_dimension, encoding_format (base64 is encoded here),
  and the extra fields input_type (default ``search_document``), truncate, max_tokens, priority.
- Accepted and not sent, since they do not change the answer: user, store, metadata, service_tier,
  safety_identifier, prompt_cache_key (and n: 1, top_logprobs: 0, modalities: ["text"], parallel_tool_calls: true).
- Refused with a 400 naming the field: n > 1, top_logprobs > 0, parallel_tool_calls: false, audio and file parts,
  images outside user messages, message ``name``, non-function tools, strict on some tools only, token-array
  embedding input, and any other field (logit_bias, prediction, audio, reasoning_effort, web_search_options, …).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from wardgate.config.schema import BaseURL, TimeoutsConfig
from wardgate.providers import registry

if TYPE_CHECKING:
    from wardgate.providers.cohere.adapter import CohereAdapter
    from wardgate.providers.http import UpstreamHTTP

__all__ = ["CohereConfig"]


class CohereConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    api_key: SecretStr
    base_url: BaseURL = "https://api.cohere.com"
    timeouts: TimeoutsConfig = TimeoutsConfig()

    @field_validator("api_key")
    @classmethod
    def _key_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError('must not be empty (e.g. api_key: "${COHERE_API_KEY}")')
        return value


def _build(name: str, config: CohereConfig, http: UpstreamHTTP) -> CohereAdapter:
    from wardgate.providers.cohere.adapter import CohereAdapter  # imported by the first Cohere provider built

    return CohereAdapter(name, http, base_url=config.base_url, api_key=config.api_key.get_secret_value())


registry.add(
    "cohere", CohereConfig, _build, "Cohere (API v2: Chat, Embed, Rerank)", operations=("chat", "embeddings", "rerank")
)
