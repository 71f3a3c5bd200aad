"""The OpenAI fake's Responses API (``POST /v1/responses``, JSON and SSE), deterministic:

- the answer is one assistant message, ``echo: `` and the text of the last input message;
- ``usage``: input tokens are the words of every input text plus 3 (plus, continuing a response, its total), of which
  the fake's ``cached_tokens`` (at most all of them) are cached; output tokens are the answer's words plus the fake's
  ``reasoning_tokens`` (a reasoning item is in the output when there are some);
- a response created with ``store`` (the default) can be continued by ``previous_response_id``; an unknown one is a
  400 naming the parameter, as OpenAI's;
- streamed, the events are OpenAI's sequence: ``response.created``, ``.in_progress``, the item and part added, one
  ``response.output_text.delta`` per word, the done events and ``response.completed`` with the usage.
"""

from __future__ import annotations

from typing import Any

from tests.fakes import openai_logic as logic


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    out: list[str] = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                content = item.get("content")
                if isinstance(content, str):
                    out.append(content)
                elif isinstance(content, list):
                    out += [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return out


def answer(
    payload: dict[str, Any], ids: tuple[str, str], created: int, stored: dict[str, dict[str, Any]], cached: int,
    reasoning: int,
) -> dict[str, Any]:  # fmt: skip
    texts = _texts(payload.get("input"))
    if payload.get("instructions"):
        texts.append(str(payload["instructions"]))
    previous_tokens = 0
    previous = payload.get("previous_response_id")
    if previous is not None:
        if previous not in stored:
            raise logic.BadRequest(f"Previous response with id '{previous}' not found.", param="previous_response_id")
        previous_tokens = stored[previous]["usage"]["total_tokens"]
    last = _texts(payload.get("input"))[-1:] or [""]
    text = "echo: " + last[0]
    input_tokens = sum(len(t.split()) for t in texts) + 3 + previous_tokens
    output_tokens = len(text.split()) + reasoning
    response_id, message_id = ids
    output: list[dict[str, Any]] = []
    if reasoning:
        output.append({"type": "reasoning", "id": "rs_" + message_id[4:], "summary": []})
    output.append({
        "type": "message", "id": message_id, "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    })  # fmt: skip
    response = {
        "id": response_id, "object": "response", "created_at": created, "status": "completed", "background": False,
        "error": None, "incomplete_details": None, "instructions": payload.get("instructions"),
        "max_output_tokens": payload.get("max_output_tokens"), "model": payload["model"], "output": output,
        "parallel_tool_calls": True, "previous_response_id": previous, "reasoning": {"effort": None, "summary": None},
        "store": payload.get("store", True), "temperature": payload.get("temperature", 1.0),
        "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": 1.0,
        "truncation": "disabled", "metadata": payload.get("metadata") or {},
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": min(cached, input_tokens), "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output_tokens,
        },
    }  # fmt: skip
    if response["store"] is not False:
        stored[response_id] = response
    return response


def events(response: dict[str, Any]) -> list[dict[str, Any]]:
    message = response["output"][-1]
    text = message["content"][0]["text"]
    index = len(response["output"]) - 1
    pending = {k: v for k, v in response.items() if k != "usage"} | {"status": "in_progress", "output": []}
    empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    out: list[dict[str, Any]] = [
        {"type": "response.created", "response": pending},
        {"type": "response.in_progress", "response": pending},
        {"type": "response.output_item.added", "output_index": index,
         "item": {**message, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", "item_id": message["id"], "output_index": index, "content_index": 0,
         "part": empty_part},
    ]  # fmt: skip
    words = text.split(" ")
    for n, word in enumerate(words):
        delta = word if n == 0 else " " + word
        out.append({"type": "response.output_text.delta", "item_id": message["id"], "output_index": index,
                    "content_index": 0, "delta": delta, "logprobs": []})  # fmt: skip
    out += [
        {"type": "response.output_text.done", "item_id": message["id"], "output_index": index, "content_index": 0,
         "text": text, "logprobs": []},
        {"type": "response.content_part.done", "item_id": message["id"], "output_index": index, "content_index": 0,
         "part": message["content"][0]},
        {"type": "response.output_item.done", "output_index": index, "item": message},
        {"type": "response.completed", "response": response},
    ]  # fmt: skip
    for n, event in enumerate(out):
        event["sequence_number"] = n
    return out
