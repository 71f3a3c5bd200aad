"""OpenAI image generations ⇄ Bedrock InvokeModel bodies of the image models, as pure functions.

The family is read from the model id:
- ``amazon.titan-image-generator…`` (v1, v2): ``{taskType: TEXT_IMAGE, textToImageParams: {text},
  imageGenerationConfig: {numberOfImages, width, height, quality}}``; ``n`` 1 to 5, ``size`` ``<w>x<h>`` as given
  (default 1024x1024; Titan refuses sizes it does not make), ``quality`` ``hd``/``high`` → ``premium``, else
  ``standard``. Answered ``{images: [b64…], error}``. Priced per image by tier: ``small`` (at most 512×512 pixels)
  or ``large``, and quality: kind ``<tier>/<quality>``.
- ``stability.…`` (SD3.5 Large, Stable Image Core and Ultra): ``{prompt, aspect_ratio, output_format, mode:
  text-to-image}``, one image a request (``n`` > 1 is a 400), ``size`` → the nearest of Stability's aspect ratios,
  ``output_format`` png or jpeg. Answered ``{images: [b64], finish_reasons: [null | reason]}``; an image with a
  finish reason (the content filter) is not returned and not billed. Kind ``<aspect ratio>/standard``.
Both answer bytes only: ``response_format: url`` is a 400 naming it. Every image withheld is a 400
``content_policy_violation``, as OpenAI answers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

from wardgate.core.errors import InvalidRequest, UpstreamError
from wardgate.core.usage import Usage

Family = Literal["titan", "stability"]
TITAN_MAX_IMAGES = 5
SMALL_PIXELS = 512 * 512
STABILITY_RATIOS = {"1:1": 1.0, "16:9": 16 / 9, "21:9": 21 / 9, "2:3": 2 / 3, "3:2": 3 / 2, "4:5": 4 / 5,
                    "5:4": 5 / 4, "9:16": 9 / 16, "9:21": 9 / 21}  # fmt: skip


def family(model: str) -> Family | None:
    lowered = model.lower()
    if "amazon.titan-image-generator" in lowered:
        return "titan"
    if "stability." in lowered:
        return "stability"
    return None


def _size(value: object, default: tuple[int, int] | None) -> tuple[int, int] | None:
    if value is None or value == "auto":
        return default
    if isinstance(value, str) and "x" in value:
        width, _, height = value.partition("x")
        if width.isdigit() and height.isdigit() and 0 < int(width) <= 4096 and 0 < int(height) <= 4096:
            return int(width), int(height)
    raise InvalidRequest("Invalid 'size': expected '<width>x<height>' or 'auto'.", param="size")


def _common(body: Mapping[str, Any], max_n: int) -> tuple[str, int]:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequest("Missing required parameter: 'prompt'.", param="prompt")
    n = body.get("n")
    n = 1 if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= max_n:
        raise InvalidRequest(f"Invalid 'n': this model makes 1 to {max_n} images a request.", param="n")
    if body.get("response_format") not in (None, "b64_json"):
        raise InvalidRequest("Invalid 'response_format': this model answers 'b64_json' only.", param="response_format")
    return prompt, n


def request(model_family: Family, body: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """(the InvokeModel body, the kind its images are priced by)."""
    if model_family == "titan":
        prompt, n = _common(body, TITAN_MAX_IMAGES)
        width, height = _size(body.get("size"), (1024, 1024)) or (1024, 1024)
        quality = "premium" if body.get("quality") in ("hd", "high") else "standard"
        wire = {
            "taskType": "TEXT_IMAGE",
            "textToImageParams": {"text": prompt},
            "imageGenerationConfig": {"numberOfImages": n, "width": width, "height": height, "quality": quality},
        }
        tier = "small" if width * height <= SMALL_PIXELS else "large"
        return wire, f"{tier}/{quality}"
    prompt, _ = _common(body, 1)
    output_format = body.get("output_format") or "png"
    if output_format not in ("png", "jpeg"):
        raise InvalidRequest("Invalid 'output_format': this model makes 'png' or 'jpeg'.", param="output_format")
    size = _size(body.get("size"), None)
    ratio = "1:1" if size is None else min(STABILITY_RATIOS, key=lambda r: abs(STABILITY_RATIOS[r] - size[0] / size[1]))
    wire = {"prompt": prompt, "mode": "text-to-image", "aspect_ratio": ratio, "output_format": output_format}
    return wire, f"{ratio}/standard"


def answer(model_family: Family, wire: Any, kind: str, provider: str) -> tuple[dict[str, Any], Usage]:
    """The OpenAI images answer and its usage (the images returned, of ``kind``)."""
    if not isinstance(wire, dict) or not isinstance(wire.get("images"), list):
        raise UpstreamError(f"{provider}: the provider answered without images.")
    images = wire["images"]
    reasons = wire.get("finish_reasons") if model_family == "stability" else None
    kept = [
        image
        for index, image in enumerate(images)
        if isinstance(image, str)
        and image
        and not (isinstance(reasons, list) and index < len(reasons) and reasons[index] is not None)
    ]
    if not kept:
        raise InvalidRequest(
            "Your request was rejected by the provider's safety system: no image was returned.",
            param="prompt",
            code="content_policy_violation",
        )
    out = {"created": int(time.time()), "data": [{"b64_json": image} for image in kept]}
    return out, Usage(images=len(kept), image_kind=kind)
