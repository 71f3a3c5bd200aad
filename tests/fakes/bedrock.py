"""A real HTTP fake of AWS Bedrock Runtime on loopback: Converse, ConverseStream and InvokeModel (embeddings).

It serves from its own event loop in a background thread and records every request. Like AWS, it:
- verifies the SigV4 signature for real: botocore recomputes it from the request as received (method, raw path,
  query, the signed headers, the body) and the fake's own credentials; an unknown key id, a wrong secret, a missing
  or wrong session token, a stale X-Amz-Date or a scope for another region or service is a 403 with AWS's error
  body. The path is taken raw, so a client that sends ``…-v1:0`` where it signed ``…-v1%3A0`` fails as it would
  on AWS;
- answers errors as ``{"message": …}`` with an ``x-amzn-ErrorType`` header (ValidationException for requests
  Bedrock would refuse, e.g. toolUse blocks without a toolConfig, or blank text blocks);
- streams ConverseStream as ``application/vnd.amazon.eventstream`` binary frames with correct CRCs, each event
  padded with the ``p`` field real Bedrock adds, one frame split across two writes.

What it answers (deterministic: the reply, the usage, the embeddings) is described and built in `bedrock_logic`.

Scripting: ``enqueue`` answers the next request with a raw response (before authentication), ``enqueue_error``
with an AWS error; ``fail_stream(after, exception_type, message)`` makes the next stream send an exception frame
after ``after`` events; ``corrupt_next_stream()`` flips a payload byte of the next stream's second frame;
``cut_next_stream(after)`` ends the next stream cleanly in the middle of frame ``after``; ``reset_next_stream(after)``
drops the connection after ``after`` frames (a reset mid-stream).
"""

from __future__ import annotations

import hmac
import re
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fakes.bedrock_logic import (
    BEDROCK_FAULT,
    PADDING,
    BedrockFault,
    Reply,
    converse_answer,
    converse_events,
    converse_reply,
    count_words,
    embedding_vector,
    encode_frame,
    encode_header,
    event_frame,
    exception_frame,
    invoke_answer,
    split_arguments,
    split_words,
    usage_of,
)
from tests.fakes.server import LoopbackServer, RecordedRequest

__all__ = [  # what the fake's users import from here: its own names and, re-exported, the logic's
    "ACCESS_KEY_ID",
    "BEDROCK_FAULT",
    "PADDING",
    "REGION",
    "SECRET_ACCESS_KEY",
    "SIGNATURE_MISMATCH",
    "BedrockFault",
    "FakeBedrock",
    "RecordedRequest",
    "Reply",
    "converse_answer",
    "converse_events",
    "converse_reply",
    "count_words",
    "embedding_vector",
    "encode_frame",
    "encode_header",
    "event_frame",
    "exception_frame",
    "invoke_answer",
    "split_arguments",
    "split_words",
    "usage_of",
]

ACCESS_KEY_ID = "AKIAFAKEBEDROCK00001"
SECRET_ACCESS_KEY = "fake/Secret+Access+Key/0123456789abcdefghij"
REGION = "us-east-1"
_ROUTE = re.compile(r"/model/(?P<model>[^/]+)/(?P<action>converse|converse-stream|invoke)")
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
_CORAL_FAULT = "http://internal.amazon.com/coral/com.amazon.coral.service/"
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True, slots=True)
class _StreamFailure:
    after: int
    exception_type: str
    message: str


# --- the server -------------------------------------------------------------------------------------------


class FakeBedrock(LoopbackServer):
    thread_name = "fake-bedrock"
    bytes_content_type = "application/json"  # `enqueue` of raw bytes

    def __init__(
        self,
        access_key_id: str = ACCESS_KEY_ID,
        secret_access_key: str = SECRET_ACCESS_KEY,
        *,
        session_token: str | None = None,
        region: str = REGION,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning: str | None = None,
    ) -> None:
        super().__init__()
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.session_token = session_token
        self.region = region
        self.cache_read_tokens = cache_read_tokens
        self.cache_write_tokens = cache_write_tokens
        self.reasoning = reasoning
        self._stream_failures: deque[_StreamFailure] = deque()
        self._corrupt = 0
        self._cuts: deque[int] = deque()
        self._resets: deque[int] = deque()

    # --- scripting and observation --------------------------------------------------------------------------

    def enqueue_error(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        self.enqueue(
            status, {"message": message}, {"x-amzn-ErrorType": f"{error_type}:{BEDROCK_FAULT}", **(headers or {})}
        )

    def fail_stream(self, after: int, exception_type: str, message: str) -> None:
        self._stream_failures.append(_StreamFailure(after, exception_type, message))

    def corrupt_next_stream(self) -> None:
        self._corrupt += 1

    def cut_next_stream(self, after: int) -> None:
        """The next stream sends ``after`` whole frames and ten bytes of the next one, then ends cleanly."""
        self._cuts.append(after)

    def reset_next_stream(self, after: int) -> None:
        """The next stream sends ``after`` whole frames, then the connection drops."""
        self._resets.append(after)

    def reset(self) -> None:
        with self._lock:
            super().reset()
            self._stream_failures.clear()
            self._corrupt = 0
            self._cuts.clear()
            self._resets.clear()

    # --- serving --------------------------------------------------------------------------------------------

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
        try:
            self._authenticate(request, recorded.body)
            return await self._answer(request, recorded.raw_path, recorded.json)
        except BedrockFault as fault:
            return _error(fault)

    def _authenticate(self, request: web.Request, body: bytes) -> None:
        header = request.headers.get("Authorization")
        if header is None:
            raise BedrockFault(403, "MissingAuthenticationTokenException", "Missing Authentication Token", _CORAL_FAULT)
        match = _AUTH.fullmatch(header)
        if match is None:
            raise BedrockFault(
                403,
                "IncompleteSignatureException",
                "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
                _CORAL_FAULT,
            )
        token = request.headers.get("X-Amz-Security-Token")
        if match["key"] != self.access_key_id or token != self.session_token:
            raise BedrockFault(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
                _CORAL_FAULT,
            )
        if match["region"] != self.region:
            raise BedrockFault(
                403, "InvalidSignatureException", "Credential should be scoped to a valid region. ", _CORAL_FAULT
            )
        if match["service"] != "bedrock":
            raise BedrockFault(
                403,
                "InvalidSignatureException",
                "Credential should be scoped to correct service: 'bedrock'. ",
                _CORAL_FAULT,
            )
        signed = match["signed"].split(";")
        amz_date = request.headers.get("X-Amz-Date", "")
        if (
            "host" not in signed
            or "x-amz-date" not in signed
            or (token is not None and "x-amz-security-token" not in signed)
        ):
            raise BedrockFault(403, "InvalidSignatureException", SIGNATURE_MISMATCH, _CORAL_FAULT)
        try:
            when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise BedrockFault(403, "InvalidSignatureException", SIGNATURE_MISMATCH, _CORAL_FAULT) from None
        if abs(datetime.now(UTC) - when) > timedelta(minutes=15) or amz_date[:8] != match["date"]:
            raise BedrockFault(403, "InvalidSignatureException", "Signature expired: " + amz_date, _CORAL_FAULT)
        if not hmac.compare_digest(self._signature(request, body, signed, amz_date), match["signature"]):
            raise BedrockFault(403, "InvalidSignatureException", SIGNATURE_MISMATCH, _CORAL_FAULT)

    def _signature(self, request: web.Request, body: bytes, signed: list[str], amz_date: str) -> str:
        """The signature AWS would compute for this request as received: botocore's SigV4 over the raw path."""
        url = f"http://{request.host}{request.raw_path}"
        kept = {name: request.headers.get(name, "") for name in signed}
        aws_request = AWSRequest(method=request.method, url=url, data=body, headers=kept)
        aws_request.context["timestamp"] = amz_date
        signer = SigV4Auth(
            Credentials(self.access_key_id, self.secret_access_key, self.session_token), "bedrock", self.region
        )
        canonical = signer.canonical_request(aws_request)
        return signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)

    async def _answer(self, request: web.Request, raw_path: str, payload: Any) -> web.StreamResponse:
        route = _ROUTE.fullmatch(raw_path)
        if request.method != "POST" or route is None:
            raise BedrockFault(404, "UnknownOperationException", "", _CORAL_FAULT)
        model = unquote(route["model"])
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            raise BedrockFault(400, "SerializationException", "Content-Type must be application/json")
        if model.startswith("missing"):
            raise BedrockFault(404, "ResourceNotFoundException", "Model not found.")
        action = route["action"]
        if action == "invoke":
            answer, tokens = invoke_answer(model, payload)
            return web.Response(
                body=orjson.dumps(answer),
                headers={
                    "content-type": "application/json",
                    "x-amzn-requestid": str(uuid.uuid4()),
                    "x-amzn-bedrock-invocation-latency": "42",
                    "x-amzn-bedrock-input-token-count": str(tokens),
                },
            )
        reply = converse_reply(payload, self.reasoning)
        if action == "converse":
            answer = converse_answer(reply, self.cache_read_tokens, self.cache_write_tokens)
            return web.Response(
                body=orjson.dumps(answer),
                headers={"content-type": "application/json", "x-amzn-requestid": str(uuid.uuid4())},
            )
        return await self._stream(request, reply)

    async def _stream(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        frames = [
            event_frame(kind, data)
            for kind, data in converse_events(reply, self.cache_read_tokens, self.cache_write_tokens)
        ]
        if self._stream_failures:
            failure = self._stream_failures.popleft()
            frames = frames[: failure.after] + [exception_frame(failure.exception_type, failure.message)]
        if self._corrupt:
            self._corrupt -= 1
            broken = bytearray(frames[1])
            broken[-6] ^= 0xFF
            frames[1] = bytes(broken)
        if self._cuts:
            after = self._cuts.popleft()
            frames = frames[:after] + [frames[after][:10]]
        response = web.StreamResponse(
            headers={"content-type": "application/vnd.amazon.eventstream", "x-amzn-requestid": str(uuid.uuid4())}
        )
        reset_after = self._resets.popleft() if self._resets else None
        await response.prepare(request)
        first = frames[0]
        await response.write(first[:7])  # a frame cut across two writes: decoders must buffer
        await response.write(first[7:])
        for sent, frame in enumerate(frames[1:], start=1):
            if sent == reset_after:
                assert request.transport is not None
                request.transport.abort()
                return response
            await response.write(frame)
        await response.write_eof()
        return response


def _error(fault: BedrockFault) -> web.Response:
    return web.Response(
        status=fault.status,
        body=orjson.dumps({"message": fault.message}),
        headers={
            "content-type": "application/json",
            "x-amzn-ErrorType": f"{fault.error_type}:{fault.fault}",
            "x-amzn-requestid": str(uuid.uuid4()),
        },
    )
