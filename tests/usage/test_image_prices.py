"""The per-image rows of the price table against the providers' published prices (count × size × quality): Imagen on
Vertex AI and on the Gemini API, Titan Image Generator and Stability on Bedrock. A change of a row must be a change of
its source, so each expected price here is the published one, not the table's.

Sources (as of 2026-12-07, the catalog's ``as_of``): https://cloud.google.com/vertex-ai/generative-ai/pricing (Imagen 4
Fast $0.02, Imagen 4 $0.04, Imagen 4 Ultra $0.06, Imagen 3 $0.04, Imagen 3 Fast $0.02 per image);
https://ai.google.dev/gemini-api/docs/pricing (Imagen 4 as on Vertex, Imagen 3 $0.03 per image);
https://aws.amazon.com/bedrock/pricing/ (Titan Image Generator v1 and v2: $0.008 standard / $0.01 premium per image up
to 512×512, $0.01 / $0.012 above; SD3.5 Large $0.08, Stable Image Core $0.04, Stable Image Ultra $0.14 per image).
"""

from __future__ import annotations

import json
from decimal import Decimal
from importlib.resources import files

import pytest

from wardgate.core.usage import Usage
from wardgate.usage.pricing import cost, load_catalog, to_nanousd

D = Decimal
TITAN_V2, TITAN_V1 = "amazon.titan-image-generator-v2:0", "amazon.titan-image-generator-v1"

PUBLISHED = [
    # (provider type, model, images, kind as the adapter meters it, USD per image)
    ("vertex", "imagen-4.0-fast-generate-001", 1, "1:1/standard", D("0.02")),
    ("vertex", "imagen-4.0-generate-001", 3, "16:9/standard", D("0.04")),
    ("vertex", "imagen-4.0-ultra-generate-001", 2, "9:16/standard", D("0.06")),
    ("vertex", "imagen-3.0-generate-002", 4, "1:1/standard", D("0.04")),
    ("vertex", "imagen-3.0-fast-generate-001", 1, "4:3/standard", D("0.02")),
    ("gemini", "imagen-4.0-fast-generate-001", 2, "1:1/standard", D("0.02")),
    ("gemini", "imagen-4.0-generate-001", 1, "3:4/standard", D("0.04")),
    ("gemini", "imagen-4.0-ultra-generate-001", 1, "1:1/standard", D("0.06")),
    ("gemini", "imagen-3.0-generate-002", 3, "1:1/standard", D("0.03")),
    ("bedrock", TITAN_V2, 1, "small/standard", D("0.008")),
    ("bedrock", TITAN_V2, 2, "small/premium", D("0.010")),
    ("bedrock", TITAN_V2, 3, "large/standard", D("0.010")),
    ("bedrock", TITAN_V2, 4, "large/premium", D("0.012")),
    ("bedrock", TITAN_V1, 1, "small/standard", D("0.008")),
    ("bedrock", TITAN_V1, 1, "large/premium", D("0.012")),
    ("bedrock", "stability.sd3-5-large-v1:0", 2, "1:1/standard", D("0.08")),
    ("bedrock", "stability.stable-image-core-v1:1", 1, "1:1/standard", D("0.04")),
    ("bedrock", "stability.stable-image-ultra-v1:1", 5, "16:9/standard", D("0.14")),
]


@pytest.mark.parametrize(("provider_type", "model", "images", "kind", "each"), PUBLISHED)
def test_each_image_row_is_the_published_price_times_the_count(
    provider_type: str, model: str, images: int, kind: str, each: Decimal
) -> None:
    price = load_catalog().lookup(provider_type, model)
    assert price is not None, f"{provider_type}/{model} has no price"
    assert price.input == 0 and price.output == 0  # billed per image only
    charged = cost(Usage(images=images, image_kind=kind), price)
    assert charged == each * images
    assert to_nanousd(charged) == int(each * images * 1_000_000_000)


def test_every_per_image_row_of_these_families_is_checked_above() -> None:
    checked = {(t, m) for t, m, *_ in PUBLISHED}
    catalog = load_catalog()
    for provider_type, family_models in (
        ("vertex", catalog_models("imagen")),
        ("gemini", catalog_models("imagen-gemini-api")),
        ("bedrock", catalog_models("bedrock-images")),
    ):
        for model in family_models:
            assert (provider_type, model) in checked, f"{provider_type}/{model} is priced but not checked"
            assert catalog.lookup(provider_type, model) is not None


def catalog_models(family: str) -> list[str]:
    data = json.loads(files("wardgate.usage").joinpath("catalog.json").read_text(encoding="utf-8"))
    return list(data["families"][family]["models"])
