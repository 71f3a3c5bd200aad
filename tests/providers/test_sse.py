from __future__ import annotations

from wardgate.providers.framing.sse import SSEDecoder, SSEEvent, encode_event


def test_events_split_across_reads_are_reassembled() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a"') == []
    assert decoder.feed(b": 1}\n\ndata: [DO") == [SSEEvent(None, b'{"a": 1}')]
    assert decoder.feed(b"NE]\n\n") == [SSEEvent(None, b"[DONE]")]


def test_named_events_multiline_data_comments_and_crlf() -> None:
    decoder = SSEDecoder()
    wire = b": keep-alive\r\n\r\nevent: message_start\r\ndata: line1\r\ndata: line2\r\n\r\nevent: ping\ndata:\n\n"
    assert decoder.feed(wire) == [SSEEvent(b"message_start", b"line1\nline2"), SSEEvent(b"ping", b"")]


def test_a_last_event_without_a_blank_line_is_flushed() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: tail") == []
    assert decoder.flush() == [SSEEvent(None, b"tail")]


def test_encode_round_trips() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(encode_event(b"{}", b"message_stop") + encode_event(b"[DONE]")) == [
        SSEEvent(b"message_stop", b"{}"),
        SSEEvent(None, b"[DONE]"),
    ]
