"""``type: anthropic``: the Anthropic Messages API (``POST /v1/messages``) behind the OpenAI surface.

Chat completions and legacy completions (the prompt as one user message) are translated; Anthropic has no
embeddings endpoint. What each OpenAI field becomes:

- messages: system and developer messages → top-level ``system`` (a string, or text blocks when one carries
  ``cache_control``), wherever they stood; consecutive same-role turns merged (tool results are user turns);
  parts: text, ``image_url`` (data: URL → base64 source, http(s) → url source; ``detail`` is ignored: Anthropic
  picks the resolution), ``file`` with inline PDF data → document block (``filename`` is not sent); assistant
  ``tool_calls`` → ``tool_use`` blocks, tool messages → ``tool_result`` blocks. A message's ``name`` is not sent.
- tools, ``tool_choice`` (auto/none/required/function → auto/none/any/tool), ``parallel_tool_calls: false`` →
  ``disable_parallel_tool_use``; ``stop`` → ``stop_sequences``; ``max_completion_tokens``/``max_tokens`` (else the
  provider's ``default_max_tokens``: Anthropic requires one); temperature, top_p, ``top_k``; ``user`` (or
  ``safety_identifier``) → ``metadata.user_id``; ``response_format: json_schema`` → ``output_config.format``
  (structured outputs); ``reasoning_effort`` low…max → ``output_config.effort``.
- Anthropic-only extras passed through: ``thinking``, ``top_k``, ``cache_control`` (top level, on content parts,
  on messages (their last block), on tools).
- Thinking: the answer carries the text as ``reasoning_content`` and the signed blocks as ``thinking_blocks``
  (streamed: ``reasoning_content`` deltas, then each complete block in a ``thinking_blocks`` delta). Sending
  ``thinking_blocks`` back on the assistant message keeps them, signature intact, for the next turn;
  ``reasoning_content`` on a request is not sent (Anthropic accepts only signed thinking).
- Ignored (they cannot change the answer): ``store``, ``metadata``, ``prompt_cache_key``,
  ``prompt_cache_retention``, ``prompt_cache_options``, ``service_tier``.
- Refused with 400 naming the field: ``n`` > 1, ``logprobs``/``top_logprobs``, non-zero presence/frequency
  penalties, ``logit_bias``, ``seed``, ``response_format: json_object``, non-text ``modalities``, ``audio``,
  ``prediction``, ``web_search_options``, legacy ``functions``/``function_call``, tools that are not functions, and
  any other field this adapter does not know; legacy completions also refuse ``echo``, ``best_of``, ``suffix``,
  several prompts and token prompts (and, without ``max_tokens``, get ``default_max_tokens``, not OpenAI's 16).
- Errors: Anthropic's status and message go through ``error_from_status`` (529 overloaded → 503); an ``error``
  event mid-stream ends the stream with that error, after the chunks that came before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from wardgate.config.schema import BaseURL, TimeoutsConfig
from wardgate.providers import registry

if TYPE_CHECKING:
    from wardgate.providers.anthropic.adapter import AnthropicAdapter
    from wardgate.providers.http import UpstreamHTTP

__all__ = ["AnthropicConfig", "build"]
TYPE = "anthropic"


class AnthropicConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    api_key: SecretStr
    base_url: BaseURL = "https://api.anthropic.com"
    anthropic_version: str = "2023-06-01"
    default_max_tokens: Annotated[int, Field(gt=0)] = 4096
    beta: tuple[str, ...] = ()  # anthropic-beta flags, sent comma-separated
    timeouts: TimeoutsConfig = TimeoutsConfig()

    @field_validator("api_key")
    @classmethod
    def _key_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError('must not be empty (e.g. api_key: "${ANTHROPIC_API_KEY}")')
        return value


def build(name: str, config: AnthropicConfig, http: UpstreamHTTP) -> AnthropicAdapter:
    # the adapter and its translation are imported by the first Anthropic provider built: a gateway without one
    # never loads them (the Anthropic surface, /v1/messages, has its own translation in wardgate.api)
    from wardgate.providers.anthropic.adapter import AnthropicAdapter

    key = config.api_key.get_secret_value()
    headers = {"x-api-key": key, "anthropic-version": config.anthropic_version, "content-type": "application/json"}
    if config.beta:
        headers["anthropic-beta"] = ",".join(config.beta)
    return AnthropicAdapter(
        name,
        http,
        base_url=config.base_url,
        headers=headers,
        default_max_tokens=config.default_max_tokens,
        secrets=(key,),
    )


registry.add(TYPE, AnthropicConfig, build, "Anthropic Messages API", operations=("chat", "completions"))
