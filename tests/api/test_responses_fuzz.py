"""The Responses surface's pure translation against generated requests of every shape: a request is translated into
a chat body the surface's own validation accepts, or refused with a 400 (``InvalidRequest``); never anything else
(a 500). The answer side likewise: any chat completion or chunk sequence becomes a response or raises a WardgateError.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wardgate.api import validate
from wardgate.api.responses_answer import finish, output_of, skeleton
from wardgate.api.responses_stream import ResponseStream
from wardgate.api.responses_translate import check_request, input_items, to_chat, to_messages
from wardgate.core.errors import InvalidRequest, WardgateError

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False), st.text(max_size=8)
)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(*[strategy] * 9, anything)


text = st.text(max_size=10)
content_part = st.fixed_dictionaries(
    {"type": maybe(st.sampled_from(["input_text", "input_image", "input_file", "output_text", "refusal", "x"]))},
    optional={
        "text": maybe(text),
        "image_url": maybe(text),
        "file_data": maybe(text),
        "file_id": maybe(text),
        "refusal": maybe(text),
        "detail": maybe(text),
    },  # fmt: skip
)
item = st.fixed_dictionaries(
    {},
    optional={
        "type": maybe(st.sampled_from(["message", "function_call", "function_call_output", "reasoning", "other"])),
        "role": maybe(st.sampled_from(["user", "assistant", "system", "developer", "tool"])),
        "content": maybe(st.one_of(text, st.lists(content_part, max_size=3))),
        "call_id": maybe(text),
        "name": maybe(text),
        "arguments": maybe(text),
        "output": maybe(st.one_of(text, st.lists(content_part, max_size=2))),
        "id": maybe(text),
    },
)
request = st.fixed_dictionaries(
    {"model": maybe(st.text(min_size=1, max_size=6)), "input": maybe(st.one_of(text, st.lists(item, max_size=4)))},
    optional={
        "instructions": maybe(text),
        "tools": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {"type": maybe(st.just("function")), "name": maybe(text)}, optional={"parameters": anything}
                ),
                max_size=2,
            )
        ),  # fmt: skip
        "tool_choice": anything,
        "text": maybe(st.fixed_dictionaries({}, optional={"format": anything})),
        "reasoning": anything,
        "max_output_tokens": anything,
        "temperature": anything,
        "stream": anything,
        "metadata": anything,
        "top_logprobs": anything,
        "truncation": anything,
        "store": anything,
        "user": anything,
    },
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request)
def test_a_request_becomes_a_valid_chat_body_or_a_400(body: dict[str, Any]) -> None:
    try:
        check_request(body)
        chat = to_chat(body, to_messages(input_items(body["input"])))
    except InvalidRequest:
        return
    try:
        validate.chat(chat)
    except InvalidRequest:
        return  # the surface runs the same check: a 400 too


chunk = st.fixed_dictionaries(
    {"choices": maybe(st.lists(st.fixed_dictionaries(
        {"index": maybe(st.just(0))},
        optional={"delta": maybe(st.fixed_dictionaries({}, optional={
            "content": maybe(text), "reasoning_content": maybe(text), "refusal": maybe(text),
            "tool_calls": maybe(st.lists(st.fixed_dictionaries({"index": maybe(st.integers(0, 2))}, optional={
                "id": maybe(text), "function": maybe(st.fixed_dictionaries({}, optional={
                    "name": maybe(text), "arguments": maybe(text)}))}), max_size=2))})),
            "finish_reason": maybe(st.sampled_from([None, "stop", "length", "tool_calls"]))},
    ), max_size=2))},
    optional={"usage": maybe(st.fixed_dictionaries({"prompt_tokens": st.integers(0, 99)}))},
)  # fmt: skip


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(chunk, max_size=6), anything)
def test_any_answer_becomes_a_response_or_a_gateway_error(chunks: list[dict[str, Any]], completion: Any) -> None:
    state = ResponseStream(skeleton({"model": "m", "input": "x"}, "resp_1", "m", 1))
    try:
        for c in chunks:
            state.feed(c)
        state.close()
    except WardgateError:
        pass
    if isinstance(completion, dict):
        response = skeleton({"model": "m", "input": "x"}, "resp_1", "m", 1)
        try:
            output, reason = output_of(completion)
        except WardgateError:
            return
        finish(response, output, reason if isinstance(reason, str) else None, None)
