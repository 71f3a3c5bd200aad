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
RERANK = "rerank"  # Cohere's shape at <base_url>/rerank (Jina, vLLM, Together, Infinity)
AUDIO = frozenset({"transcriptions", "translations", "speech"})
IMAGES = frozenset({"images", "image_edits", "image_variations"})
BATCHES = frozenset({"batches", "batch_output"})  # /v1/files and /v1/batches (files.provider)
OPERATION_ORDER = (
    CHAT, COMPLETIONS, EMBEDDINGS, MODERATIONS, RERANK,
    "transcriptions", "translations", "speech", "images", "image_edits", "image_variations", "videos", "realtime",
    "batches", "batch_output",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Preset:
    type: str
    label: str
    base_url: str | None  # None: the config must give one
    key_required: bool = True  # local servers run without a key
    operations: frozenset[str] = frozenset({CHAT, COMPLETIONS, EMBEDDINGS})
    stream_usage: bool = True  # accepts stream_options.include_usage
    key_header: str = "authorization"  # "authorization" sends "Bearer <key>"; any other header gets the key as is
    native_responses: bool = False  # serves the Responses API at <base_url>/responses (providers/responses_native.py)


def _ops(*names: str) -> frozenset[str]:
    return frozenset(names)


PRESETS: dict[str, Preset] = {
    p.type: p
    for p in (
        Preset(
            "openai",
            "OpenAI",
            "https://api.openai.com/v1",
            operations=_ops(CHAT, COMPLETIONS, EMBEDDINGS, MODERATIONS, "videos", "realtime")
            | AUDIO
            | IMAGES
            | BATCHES,
            native_responses=True,
        ),
        Preset(
            "groq",
            "Groq",
            "https://api.groq.com/openai/v1",
            operations=_ops(CHAT, EMBEDDINGS, "transcriptions", "translations", "speech"),
        ),
        Preset("mistral", "Mistral AI", "https://api.mistral.ai/v1", operations=_ops(CHAT, EMBEDDINGS)),
        Preset(
            "together",
            "Together AI",
            "https://api.together.xyz/v1",
            operations=_ops(CHAT, COMPLETIONS, EMBEDDINGS, RERANK),
        ),
        Preset("fireworks", "Fireworks AI", "https://api.fireworks.ai/inference/v1"),
        Preset("deepseek", "DeepSeek", "https://api.deepseek.com/v1", operations=_ops(CHAT, COMPLETIONS)),
        Preset("xai", "xAI", "https://api.x.ai/v1", operations=_ops(CHAT, COMPLETIONS, EMBEDDINGS)),
        Preset("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", operations=_ops(CHAT, COMPLETIONS)),
        Preset("perplexity", "Perplexity", "https://api.perplexity.ai", operations=_ops(CHAT)),
        Preset("cerebras", "Cerebras", "https://api.cerebras.ai/v1", operations=_ops(CHAT, COMPLETIONS)),
        Preset("ollama", "Ollama", "http://127.0.0.1:11434/v1", key_required=False),
        Preset(
            "vllm",
            "vLLM",
            "http://127.0.0.1:8000/v1",
            key_required=False,
            operations=_ops(CHAT, COMPLETIONS, EMBEDDINGS, RERANK),
        ),
        Preset("lmstudio", "LM Studio", "http://127.0.0.1:1234/v1", key_required=False),
        Preset("llamacpp", "llama.cpp server", "http://127.0.0.1:8080/v1", key_required=False),
        Preset("tgi", "Hugging Face TGI", "http://127.0.0.1:8080/v1", key_required=False, operations=_ops(CHAT)),
        # issue 19: the OpenAI-compatible endpoints users ask for most (each vendor's OpenAI-compatibility docs)
        Preset("sambanova", "SambaNova Cloud", "https://api.sambanova.ai/v1", operations=_ops(CHAT, EMBEDDINGS)),
        Preset(
            "huggingface", "Hugging Face Inference Providers", "https://router.huggingface.co/v1", operations=_ops(CHAT)
        ),
        Preset(
            "nvidia_nim",
            "NVIDIA NIM",
            "https://integrate.api.nvidia.com/v1",
            operations=_ops(CHAT, COMPLETIONS, EMBEDDINGS, RERANK),
        ),
        Preset("ai21", "AI21 Labs (Jamba)", "https://api.ai21.com/studio/v1", operations=_ops(CHAT)),
        Preset("deepinfra", "DeepInfra", "https://api.deepinfra.com/v1/openai"),
        Preset("nebius", "Nebius AI Studio", "https://api.studio.nebius.com/v1"),
        Preset("novita", "Novita AI", "https://api.novita.ai/v3/openai"),
        Preset("hyperbolic", "Hyperbolic", "https://api.hyperbolic.xyz/v1", operations=_ops(CHAT, COMPLETIONS)),
        Preset("moonshot", "Moonshot AI (Kimi)", "https://api.moonshot.ai/v1", operations=_ops(CHAT)),
        Preset(
            "dashscope",
            "Alibaba Cloud Model Studio (Qwen)",
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            operations=_ops(CHAT, EMBEDDINGS),
        ),
        Preset(
            "github_models", "GitHub Models", "https://models.github.ai/inference", operations=_ops(CHAT, EMBEDDINGS)
        ),
        Preset("jina", "Jina AI (embeddings, rerank)", "https://api.jina.ai/v1", operations=_ops(EMBEDDINGS, RERANK)),
        Preset(
            "infinity",
            "Infinity (embeddings, rerank server)",
            "http://127.0.0.1:7997",
            key_required=False,
            operations=_ops(EMBEDDINGS, RERANK),
        ),
        # the base URL names the customer's own workspace, account or resource: the config gives it
        Preset("databricks", "Databricks Model Serving (https://<workspace>/serving-endpoints)", None),
        Preset(
            "cloudflare",
            "Cloudflare Workers AI (https://api.cloudflare.com/client/v4/accounts/<id>/ai/v1)",
            None,
            operations=_ops(CHAT, EMBEDDINGS),
        ),
        Preset(
            "azure_ai",
            "Azure AI Foundry Models (https://<resource>.services.ai.azure.com/openai/v1)",
            None,
            operations=_ops(CHAT, EMBEDDINGS),
            key_header="api-key",
        ),
        Preset(
            "openai_compatible",
            "any OpenAI-compatible server",
            None,
            key_required=False,
            operations=_ops(CHAT, COMPLETIONS, EMBEDDINGS, MODERATIONS, RERANK) | AUDIO | IMAGES,
        ),
    )
}
