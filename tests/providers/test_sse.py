from __future__ import annotations

from wardgate.providers.framing.sse import SSEDataDecoder, SSEDecoder, SSEEvent, encode_event


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


CRLF_STREAM = (
    b": keep-alive\r\n\r\n"
    b"event: message_start\r\ndata: line1\r\ndata: line2\r\n\r\n"
    b'data: {"a": 1}\r\n\r\n'
    b"event: ping\r\ndata:\r\n\r\n"
    b"data: [DONE]\r\n\r\n"
)
CRLF_EVENTS = [
    SSEEvent(b"message_start", b"line1\nline2"),
    SSEEvent(None, b'{"a": 1}'),
    SSEEvent(b"ping", b""),
    SSEEvent(None, b"[DONE]"),
]


def decode(reads: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [event for data in reads for event in decoder.feed(data)]
    return events + decoder.flush()


def test_a_crlf_stream_split_at_any_byte_gives_the_same_events() -> None:
    """A CR at the end of one read and its LF at the start of the next are one line break, not two (which would end
    an event early and split ``event:`` from its ``data:``)."""
    assert decode([CRLF_STREAM]) == CRLF_EVENTS
    for cut in range(1, len(CRLF_STREAM)):
        assert decode([CRLF_STREAM[:cut], CRLF_STREAM[cut:]]) == CRLF_EVENTS, cut


def test_a_crlf_stream_split_at_any_two_bytes_gives_the_same_events() -> None:
    for first in range(1, len(CRLF_STREAM) - 1):
        for second in range(first + 1, len(CRLF_STREAM)):
            reads = [CRLF_STREAM[:first], CRLF_STREAM[first:second], CRLF_STREAM[second:]]
            assert decode(reads) == CRLF_EVENTS, (first, second)


def test_a_crlf_stream_fed_one_byte_at_a_time_gives_the_same_events() -> None:
    assert decode([CRLF_STREAM[i : i + 1] for i in range(len(CRLF_STREAM))]) == CRLF_EVENTS


def test_lone_cr_line_endings_still_end_lines_when_a_read_ends_in_cr() -> None:
    stream = b"event: a\rdata: 1\r\rdata: 2\r\r"
    expected = [SSEEvent(b"a", b"1"), SSEEvent(None, b"2")]
    for cut in range(1, len(stream)):
        assert decode([stream[:cut], stream[cut:]]) == expected, cut


def test_a_cr_then_crlf_across_reads_is_two_line_breaks() -> None:
    assert decode([b"data: x\r", b"\r\ndata: y\n\n"]) == [SSEEvent(None, b"x"), SSEEvent(None, b"y")]


def decode_data(reads: list[bytes]) -> list[bytes]:
    decoder = SSEDataDecoder()
    return [data for read in reads for data in decoder.feed(read)] + decoder.flush()


def test_the_data_decoder_gives_each_event_s_data_as_the_event_decoder_does() -> None:
    """The OpenAI reader's decoder: the same events, in the same order, split anywhere (named events, comments,
    multi-line data and a last event without its blank line included)."""
    stream = CRLF_STREAM + b"event: only-a-name\n\n" + b'data: {"b": 2}\n\n: comment\n\ndata: tail'
    expected = [event.data for event in decode([stream])]
    assert expected == [b"line1\nline2", b'{"a": 1}', b"", b"[DONE]", b"", b'{"b": 2}', b"tail"]
    for cut in range(1, len(stream)):
        assert decode_data([stream[:cut], stream[cut:]]) == expected, cut
    assert decode_data([stream[i : i + 1] for i in range(len(stream))]) == expected
