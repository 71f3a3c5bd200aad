"""The pii guard's `person` and `address` entities: what each sensitivity finds, redaction and pseudonymization, and
streams split at every offset (a name or an address is never released, in part or whole)."""

from __future__ import annotations

import random

import openai
import orjson
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.guards.helpers import call, content, relay, stage, start, text_chunk
from tests.guards.test_stream_fuzz import anthropic_text, pieces, splits
from tests.support import MASTER_KEY, gateway_from_yaml
from wardgate.config.guards import GuardConfig
from wardgate.guards.engine import compile_guard
from wardgate.guards.scan import redact

SSE = {"content-type": "text/event-stream; charset=utf-8"}


def found(text: str, sensitivity: str = "balanced", entities: tuple[str, ...] = ("person", "address")) -> list[str]:
    guard = compile_guard(
        GuardConfig(name="p", type="pii", entities=list(entities), sensitivity=sensitivity)  # type: ignore[arg-type]
    )
    return [f"{f.entity}:{text[f.start : f.end]}" for f in guard.scan(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Please forward this to Jane Doe in accounting.", ["person:Jane Doe"]),
        ("Ask John Q. Smith or Mary-Ann O'Brien.", ["person:John Q. Smith", "person:Mary-Ann O'Brien"]),
        ("Dr. Kowalczyk will see you now.", ["person:Kowalczyk"]),  # a title: any capitalised word after it
        ("Dear Mr Nguyen,\nyour order shipped.", ["person:Nguyen"]),
        ("Hello, my name is Ingrid Oyelaran-Baptiste.", ["person:Ingrid Oyelaran-Baptiste"]),
        ("Hi Sarah, can you check the build?", ["person:Sarah"]),  # a greeting makes a first name alone a name
        ("Thanks for the notes. Laura Delić will present.", ["person:Laura Delić"]),  # a surname the lists lack
        ("Regards,\nAnna Kowalski", ["person:Anna Kowalski"]),
        ("Mark Johnson reviewed Jane's draft.", ["person:Mark Johnson"]),  # "Mark" is a name before a surname
        ("Helena C Carlsen signed it.", ["person:Helena C Carlsen"]),  # an initial without its dot
        ("Albina Tomaszewska and Terence Vassiliev", ["person:Albina Tomaszewska", "person:Terence Vassiliev"]),
        ("Vanessa: Who are you?\nOscar: A friend.", ["person:Vanessa", "person:Oscar"]),  # a transcript's labels
    ],
)
def test_balanced_finds_names_with_a_surname_or_a_cue(text: str, expected: list[str]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Will Power is a self-help book; the Rose Garden opens in May.",
        "Grant Access to the File Server, then Mark Down the Price.",
        "New York City and Washington Square Park are busy on Christmas Day.",
        "name: Optional[str] = None",
        "Is it true that everyone from Jordan lacks etiquette?",
        "Ignore whitespace in git diff with the -w flag.",
        "During 2000, Kosmos Energy Ltd. invested heavily.",
        "Chapter 3 explains the Main Street effect.",
        "Dear Customer, your ticket is open.",
        "I think Season 2 was better; Note: the Reason is unclear.",
        "Create a class called UserService and a file named Report.txt.",
    ],
)
def test_balanced_leaves_common_capitalised_words_alone(text: str) -> None:
    assert found(text) == []


def test_sensitivity_decides_about_a_first_name_alone_and_a_surname_off_the_lists() -> None:
    text = "Please ask Priya and Jennifer about it; Laura Delić agrees."
    assert found(text, "strict") == ["person:Jennifer", "person:Laura Delić"]  # Priya is not in the 1990 lists
    assert found(text, "balanced") == ["person:Laura Delić"]
    assert found(text, "permissive") == []  # only listed first names with listed surnames, or a cue
    assert found("Signed: Robert Brown", "permissive") == ["person:Robert Brown"]
    assert found("Cecilie Josefsen called.", "strict") == ["person:Cecilie Josefsen"]  # a surname-shaped word
    assert found("Cecilie Josefsen called.", "balanced") == []  # "Cecilie" is not in the lists


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            "Ship it to 1600 Pennsylvania Ave NW, Washington, DC 20500 today",
            "1600 Pennsylvania Ave NW, Washington, DC 20500",
        ),
        ("I live at 221B Baker Street, London NW1 6XE.", "221B Baker Street, London NW1 6XE"),
        (
            "Send it to 7343 Oak Stream Apt. 410\nSouth Lindafort, OR 49735 please",
            "7343 Oak Stream Apt. 410\nSouth Lindafort, OR 49735",
        ),
        ("Mail: P.O. Box 123, Springfield, IL 62704", "P.O. Box 123, Springfield, IL 62704"),
        ("PSC 2377, Box 7296\nAPO AA 89887", "PSC 2377, Box 7296\nAPO AA 89887"),
        ("Ich wohne in der Hauptstraße 5, 10115 Berlin.", "Hauptstraße 5, 10115 Berlin"),
        ("Our office: Via Carlo Cattaneo 88, 20121 Milano", "Via Carlo Cattaneo 88, 20121 Milano"),
        ("Rendez-vous au 12 rue de la Paix, 75002 Paris", "12 rue de la Paix, 75002 Paris"),
        ("Keizersgracht 123, Amsterdam", "Keizersgracht 123"),
        ("Visit 1 Infinite Loop today", "1 Infinite Loop"),
        ("Mail 7 Oak Views, Springfield, IL 62704 now", "7 Oak Views, Springfield, IL 62704"),
    ],
)
def test_addresses_by_their_grammar(text: str, value: str) -> None:
    assert found(text, entities=("address",)) == [f"address:{value}"]


@pytest.mark.parametrize(
    "text",
    [
        "Version 2 Release Notes",
        "During 2000, sales grew",
        "Read 3 Main points",
        "12 items shipped on Friday",
        "5 Easy Ways to Save",  # a street type that is also a plain noun needs a unit or a town after it
        "Buy The 3 Day Pass",
        "Smith et al. Nature 2019",
    ],
)
def test_numbers_before_capitalised_words_are_not_addresses(text: str) -> None:
    assert found(text, entities=("address",)) == []


def test_the_default_entities_leave_names_and_addresses_out() -> None:
    guard = compile_guard(GuardConfig(name="p", type="pii"))
    assert {p.entity for p in guard.patterns}.isdisjoint({"person", "address"})
    assert guard.scan("Jane Doe lives at 221B Baker Street") == []


def test_redact_and_pseudonymize_write_person_and_address_placeholders() -> None:
    text = "My name is Jane Doe and I live at 221B Baker Street, London NW1 6XE."
    redacting = stage(
        {"name": "pii", "type": "pii", "on": "request", "action": "redact", "entities": ["person", "address"]}
    )
    c = call({"model": "m", "messages": [{"role": "user", "content": text}]})
    start(redacting, c)
    assert c.body["messages"][0]["content"] == "My name is [PERSON] and I live at [ADDRESS]."
    guard = {"name": "p", "type": "pii", "on": "both", "action": "pseudonymize", "entities": ["person", "address"]}
    pseudo = stage(guard)
    answer = "Noted, <PERSON_1>: we will write to <ADDRESS_1>."
    expected = "Noted, Jane Doe: we will write to 221B Baker Street, London NW1 6XE."
    for cut in range(1, len(answer)):
        c = call({"model": "m", "messages": [{"role": "user", "content": text}]})
        start(pseudo, c)
        assert c.body["messages"][0]["content"] == "My name is <PERSON_1> and I live at <ADDRESS_1>."
        chunks = [text_chunk(answer[:cut]), text_chunk(answer[cut:], finish="stop")]
        assert content(relay(pseudo, c, chunks)) == expected, cut


VALUES = [
    "Jane Doe",
    "Mr. Kowalczyk",
    "Laura Delić",
    "John Q. Smith",
    "221B Baker Street, London NW1 6XE",
    "1600 Pennsylvania Ave NW",
    "Hauptstraße 5, 10115 Berlin",
    "P.O. Box 123",
]


def test_no_name_or_address_leaks_whatever_the_split() -> None:
    rng = random.Random(47)
    guard = {"name": "pii", "type": "pii", "on": "response", "action": "redact", "entities": ["person", "address"]}
    guards = stage(guard)
    cases = 0
    for value in VALUES:
        text = f"Sure: {value} is it."
        probe = call()
        start(guards, probe)
        expected = redact(text, probe.guards.response.hits(text))  # type: ignore[union-attr]
        assert value.split()[-1] not in expected, value
        for cuts in splits(len(text), rng):
            c = call()
            start(guards, c)
            parts = pieces(text, cuts)
            chunks = [text_chunk("", role=True)] + [text_chunk(p) for p in parts[:-1]]
            chunks.append(text_chunk(parts[-1], finish="stop"))
            out = relay(guards, c, chunks)
            assert content(out) == expected, (value, cuts)
            assert anthropic_text(out) == expected
            assert max(r.held for r in c.guards.texts.values()) <= guards.holdback  # type: ignore[union-attr]
            cases += 2
    assert cases >= 1_000


def _sse(*texts: str) -> bytes:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    events = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    events += [{**head, "choices": [{"index": 0, "delta": {"content": t}}]} for t in texts]
    events.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def test_through_the_gateway_a_name_is_pseudonymized_upstream_and_restored_in_a_split_stream() -> None:
    with (
        FakeOpenAI(api_key="sk-up").start() as fake,
        gateway_from_yaml(f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  small: [{{provider: up, model: gpt-4o-mini}}]
guards:
  - {{name: names, type: pii, on: both, action: pseudonymize, entities: [person, address]}}
""") as gateway,
        openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as client,
    ):
        # the upstream answer splits the placeholders across chunks: "<PERS" + "ON_1>", "<ADDRESS" + "_1" + ">"
        fake.enqueue(200, _sse("Dear <PERS", "ON_1>, we will write to <ADDRESS", "_1", ">."), SSE)
        stream = client.chat.completions.create(
            model="small",
            messages=[{"role": "user", "content": "I am Dr. Ingrid Kowalczyk of 221B Baker Street, London NW1 6XE."}],
            stream=True,
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        sent = fake.requests[-1].json["messages"][0]["content"]
    assert sent == "I am Dr. <PERSON_1> of <ADDRESS_1>."
    assert text == "Dear Ingrid Kowalczyk, we will write to 221B Baker Street, London NW1 6XE."
