"""The pure InvokeModel translation of embeddings: Titan Text Embeddings and Cohere Embed on Bedrock."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from tests.openapi_schema import validate
from wardgate.core.errors import UnsupportedOperation
from wardgate.core.usage import Usage
from wardgate.providers.bedrock import embeddings

TITAN = "amazon.titan-embed-text-v2:0"
COHERE = "cohere.embed-multilingual-v3"


@pytest.mark.parametrize(
    ("model", "family"),
    [
        (TITAN, "titan-v2"),
        ("amazon.titan-embed-text-v1", "titan-v1"),
        ("amazon.titan-embed-g1-text-02", "titan-v1"),
        ("cohere.embed-english-v3", "cohere"),
        ("us.cohere.embed-multilingual-v3", "cohere"),
        ("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0", "titan-v2"),
    ],
)
def test_the_family_is_read_from_the_model_id(model: str, family: str) -> None:
    assert embeddings.family(model) == family


def test_a_model_that_is_no_known_embedding_model_is_refused() -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        embeddings.family("anthropic.claude-3-haiku-20240307-v1:0")
    assert caught.value.param == "model"


def test_titan_v2_gets_one_normalised_request_per_text_in_order() -> None:
    body = {"model": "e", "input": ["one", "two"], "dimensions": 256}
    assert embeddings.requests(body, "titan-v2", embeddings.texts(body)) == [
        {"inputText": "one", "dimensions": 256, "normalize": True},
        {"inputText": "two", "dimensions": 256, "normalize": True},
    ]
    single = {"model": "e", "input": "solo"}
    assert embeddings.requests(single, "titan-v2", embeddings.texts(single)) == [
        {"inputText": "solo", "normalize": True}
    ]


def test_titan_g1_takes_only_the_text() -> None:
    body = {"model": "e", "input": "x"}
    assert embeddings.requests(body, "titan-v1", ["x"]) == [{"inputText": "x"}]
    with pytest.raises(UnsupportedOperation) as caught:
        embeddings.requests({**body, "dimensions": 512}, "titan-v1", ["x"])
    assert caught.value.param == "dimensions"


def test_cohere_batches_at_most_96_texts_a_call() -> None:
    inputs = [f"t{i}" for i in range(200)]
    bodies = embeddings.requests({"model": "e", "input": inputs}, "cohere", inputs)
    assert [len(b["texts"]) for b in bodies] == [96, 96, 8]
    assert [t for b in bodies for t in b["texts"]] == inputs
    assert all(b["input_type"] == "search_document" for b in bodies)
    with pytest.raises(UnsupportedOperation) as caught:
        embeddings.requests({"model": "e", "input": "x", "dimensions": 256}, "cohere", ["x"])
    assert caught.value.param == "dimensions"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "e", "input": [1, 2, 3]}, "input"),
        ({"model": "e", "input": [[1, 2], [3]]}, "input"),
        ({"model": "e", "input": "x", "truncate": "END"}, "truncate"),
    ],
)
def test_token_arrays_and_unknown_fields_are_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        embeddings.texts(body)
    assert caught.value.param == param


def test_user_and_encoding_format_are_accepted() -> None:
    assert embeddings.texts({"model": "e", "input": "x", "user": "u", "encoding_format": "base64"}) == ["x"]


def test_titan_tokens_come_from_the_body() -> None:
    answer = {"embedding": [0.1, 0.2], "inputTextTokenCount": 4, "embeddingsByType": {"float": [0.1, 0.2]}}
    assert embeddings.vectors_and_tokens("titan-v2", answer, {"x-amzn-bedrock-input-token-count": "99"}) == (
        [[0.1, 0.2]],
        4,
    )


def test_cohere_tokens_come_from_the_header_then_the_body_then_zero() -> None:
    floats = {"embeddings": [[0.5], [0.25]], "id": "i", "response_type": "embeddings_floats", "texts": ["a", "b"]}
    assert embeddings.vectors_and_tokens("cohere", floats, {"x-amzn-bedrock-input-token-count": "6"}) == (
        [[0.5], [0.25]],
        6,
    )
    typed = {
        "embeddings": {"float": [[0.5]]},
        "response_type": "embeddings_by_type",
        "meta": {"billed_units": {"input_tokens": 3}},
    }
    assert embeddings.vectors_and_tokens("cohere", typed, {}) == ([[0.5]], 3)
    assert embeddings.vectors_and_tokens("cohere", {"embeddings": [[0.5]]}, {}) == ([[0.5]], 0)


def test_the_answer_is_an_openai_embedding_list_in_float_or_base64() -> None:
    vectors = [[0.5, -0.25, 0.125], [1.0, 0.0, -1.0]]
    body, usage = embeddings.from_wire(vectors, 7, model=TITAN, encoding_format=None)
    validate("CreateEmbeddingResponse", body)
    assert [d["embedding"] for d in body["data"]] == vectors
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert body["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
    assert usage == Usage(input_tokens=7)
    encoded, _ = embeddings.from_wire(vectors, 7, model=TITAN, encoding_format="base64")
    decoded = [list(struct.unpack("<3f", base64.b64decode(d["embedding"]))) for d in encoded["data"]]
    assert decoded == vectors
