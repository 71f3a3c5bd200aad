"""AWS Signature Version 4 for Bedrock Runtime requests, done by botocore (never by hand).

Credentials are resolved once, at start-up: the configured keys, or else botocore's default chain (environment,
shared config and credentials files, container and instance metadata, web identity / IRSA). Temporary credentials
from the chain come as botocore's refreshable credentials object, which renews itself shortly before expiry; each
request takes a frozen snapshot (``get_frozen_credentials()``, a cheap read) so one signature never mixes two key
generations. A refresh is blocking I/O (STS, metadata endpoint), so when one is due it runs in a worker thread
instead of on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.session import Session
from botocore.utils import percent_encode

SERVICE = "bedrock"


def model_path(model_id: str, action: str) -> str:
    """``/model/{modelId}/{action}`` with the id encoded as botocore's REST serializer encodes a URI label.

    Every character but ``A-Z a-z 0-9 - . _ ~`` is percent-encoded, so ``:`` in ``…-v1:0`` becomes ``%3A`` and the
    ``/`` of an inference-profile ARN becomes ``%2F``: the id stays one path segment.
    """
    return f"/model/{percent_encode(model_id)}/{action}"


def resolve_credentials(
    access_key_id: str | None, secret_access_key: str | None, session_token: str | None
) -> Credentials:
    """The configured keys, or botocore's default credential chain; raises if neither yields credentials."""
    if access_key_id and secret_access_key:
        return Credentials(access_key_id, secret_access_key, session_token or None)
    found = Session().get_credentials()
    if found is None:
        raise RuntimeError(
            "no AWS credentials: set access_key_id and secret_access_key, or provide them through the default chain"
            " (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance or container role, IRSA)"
        )
    return found


class Signer:
    """Signs one request at a time for one region; holds no per-request state."""

    __slots__ = ("credentials", "last", "region")

    def __init__(self, credentials: Credentials, region: str) -> None:
        self.credentials = credentials
        self.region = region
        self.last: ReadOnlyCredentials | None = None  # the snapshot of the latest signature, for scrubbing

    async def frozen(self) -> ReadOnlyCredentials:
        creds = self.credentials
        if isinstance(creds, RefreshableCredentials) and creds.refresh_needed():
            self.last = await asyncio.to_thread(creds.get_frozen_credentials)
        else:
            self.last = creds.get_frozen_credentials()
        return self.last

    def secrets(self) -> tuple[str, ...]:
        """What must never reach a client: the secret key, the session token and the key id last used."""
        last = self.last
        if last is None:
            return ()
        return tuple(s for s in (last.secret_key, last.token, last.access_key) if s)

    async def sign(self, url: str, body: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        """The headers to send for ``POST url`` with ``body``: ``headers`` plus X-Amz-Date, the session token if
        any, and Authorization. ``url`` must already be encoded exactly as it goes on the wire."""
        return sign_request(await self.frozen(), self.region, url, body, headers)


def sign_request(
    credentials: ReadOnlyCredentials | Credentials, region: str, url: str, body: bytes, headers: Mapping[str, str]
) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return dict(request.headers.items())
