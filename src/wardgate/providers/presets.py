"""OpenAI-compatible providers that differ from OpenAI only in base URL, auth and a few quirks.

A preset is data, not code: ``type: groq`` is the OpenAI adapter with Groq's base URL. Sources: each vendor's
OpenAI-compatibility documentation.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAT = "chat"
COMPLETIONS = "completions"
EMBEDDINGS = "embeddings"
MODERATIONS = "moderations"


@dataclass(frozen=True, slots=True)
class Preset:
    type: str
    label: str
    base_url: str | None  # None: the config must give one
    key_required: bool = True  # local servers run without a key
    operations: frozenset[str] = frozenset({CHAT, COMPLETIONS, EMBEDDINGS})
    stream_usage: bool = True  # accepts stream_options.include_usage


def _ops(*names: str) -> frozenset[str]:
    return frozenset(names)


PRESETS: dict[str, Preset] = {
    p.type: p
    for p in (
        Preset(
            "openai", "OpenAI", "https://api.openai.com/v1", operations=_ops(CHAT, COMPLETIONS, EMBEDDINGS, MODERATIONS)
        ),
        Preset("groq", "Groq", "https://api.groq.com/openai/v1", operations=_ops(CHAT, EMBEDDINGS)),
        Preset("mistral", "Mistral AI", "https://api.mistral.ai/v1", operations=_ops(CHAT, EMBEDDINGS)),
        Preset("together", "Together AI", "https://api.together.xyz/v1"),
        Preset("fireworks", "Fireworks AI", "https://api.fireworks.ai/inference/v1"),
        Preset("deepseek", "DeepSeek", "https://api.deepseek.com/v1", operations=_ops(CHAT, COMPLETIONS)),
        Preset("xai", "xAI", "https://api.x.ai/v1", operations=_ops(CHAT, COMPLETIONS, EMBEDDINGS)),
        Preset("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", operations=_ops(CHAT, COMPLETIONS)),
        Preset("perplexity", "Perplexity", "https://api.perplexity.ai", operations=_ops(CHAT)),
        Preset("cerebras", "Cerebras", "https://api.cerebras.ai/v1", operations=_ops(CHAT, COMPLETIONS)),
        Preset("ollama", "Ollama", "http://127.0.0.1:11434/v1", key_required=False),
        Preset("vllm", "vLLM", "http://127.0.0.1:8000/v1", key_required=False),
        Preset("lmstudio", "LM Studio", "http://127.0.0.1:1234/v1", key_required=False),
        Preset("llamacpp", "llama.cpp server", "http://127.0.0.1:8080/v1", key_required=False),
        Preset("tgi", "Hugging Face TGI", "http://127.0.0.1:8080/v1", key_required=False, operations=_ops(CHAT)),
        Preset(
            "openai_compatible",
            "any OpenAI-compatible server",
            None,
            key_required=False,
            operations=_ops(CHAT, COMPLETIONS, EMBEDDINGS, MODERATIONS),
        ),
    )
}
