"""OpenAI image generations on Google's Imagen models (``:predict``, on Vertex AI and on the Gemini API alike).

Request: ``prompt`` → ``instances[0].prompt``; ``n`` (1 to 4) → ``parameters.sampleCount``; ``size`` → the nearest
of Imagen's aspect ratios (``parameters.aspectRatio``); ``output_format`` (png, jpeg) → ``outputOptions.mimeType``.
Imagen answers image bytes only, so ``response_format: url`` is refused (400 naming it), as is what Imagen has no
equivalent for (edits and variations are not offered: the adapter does not support those operations).

Answer: each prediction's ``bytesBase64Encoded`` → ``data[i].b64_json``; a prediction withheld by Imagen's safety
filter (``raiFilteredReason``) is left out, and a request whose every image was withheld is a 400
(``content_policy_violation``), as OpenAI answers. Metering: the images returned, of kind ``<aspect ratio>/standard``
(``Usage.images``, priced per image by the catalog).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from wardgate.core.errors import InvalidRequest, UpstreamError
from wardgate.core.usage import Usage

MAX_IMAGES = 4  # Imagen's sampleCount
ASPECT_RATIOS = {"1:1": 1.0, "3:4": 3 / 4, "4:3": 4 / 3, "9:16": 9 / 16, "16:9": 16 / 9}
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
QUALITY = "standard"


def aspect_ratio(size: object) -> str:
    """The Imagen aspect ratio nearest to an OpenAI ``size`` ("1792x1024" → "16:9"); "1:1" for ``auto``/none."""
    if size is None or size == "auto":
        return "1:1"
    if not isinstance(size, str) or "x" not in size:
        raise InvalidRequest("Invalid 'size': expected '<width>x<height>' or 'auto'.", param="size")
    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit()) or int(width) == 0 or int(height) == 0:
        raise InvalidRequest("Invalid 'size': expected '<width>x<height>' or 'auto'.", param="size")
    ratio = int(width) / int(height)
    return min(ASPECT_RATIOS, key=lambda name: abs(ASPECT_RATIOS[name] - ratio))


def imagen_request(body: Mapping[str, Any]) -> dict[str, Any]:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequest("Missing required parameter: 'prompt'.", param="prompt")
    n = body.get("n", 1)
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise InvalidRequest(f"Invalid 'n': this model makes 1 to {MAX_IMAGES} images a request.", param="n")
    if body.get("response_format") not in (None, "b64_json"):
        raise InvalidRequest("Invalid 'response_format': this model answers 'b64_json' only.", param="response_format")
    output_format = body.get("output_format")
    if output_format is not None and output_format not in MIME_TYPES:
        raise InvalidRequest("Invalid 'output_format': this model makes 'png' or 'jpeg'.", param="output_format")
    parameters: dict[str, Any] = {"sampleCount": n, "aspectRatio": aspect_ratio(body.get("size"))}
    if output_format is not None:
        parameters["outputOptions"] = {"mimeType": MIME_TYPES[output_format]}
    return {"instances": [{"prompt": prompt}], "parameters": parameters}


def openai_images(answer: Any, request: dict[str, Any], provider: str) -> tuple[dict[str, Any], Usage]:
    """The OpenAI images answer and its usage, from Imagen's predictions."""
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if predictions is None:
        predictions = []
    if not isinstance(predictions, list):
        raise UpstreamError(f"{provider}: the provider answered without predictions.")
    data = [
        {"b64_json": p["bytesBase64Encoded"]}
        for p in predictions
        if isinstance(p, dict) and isinstance(p.get("bytesBase64Encoded"), str)
    ]
    if not data:
        raise InvalidRequest(
            "Your request was rejected by the provider's safety system: no image was returned.",
            param="prompt",
            code="content_policy_violation",
        )
    usage = Usage(images=len(data), image_kind=f"{request['parameters']['aspectRatio']}/{QUALITY}")
    return {"created": int(time.time()), "data": data}, usage
