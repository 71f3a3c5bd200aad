"""The master key: the operator's own credential, allowed every model."""

from __future__ import annotations

import hmac

from wardgate.core.call import Call, Result
from wardgate.core.errors import Unauthenticated
from wardgate.core.principal import Principal

MASTER = Principal(kind="master", id="master")


class MasterKeyStage:
    name = "identity"

    def __init__(self, master_key: str) -> None:
        self._key = master_key.encode()

    async def before(self, call: Call) -> Result | None:
        call.principal = await self.authenticate(call.credential)
        return None

    async def authenticate(self, credential: str | None) -> Principal:
        if credential is None:
            raise Unauthenticated(
                "You didn't provide an API key. Send it as `Authorization: Bearer <key>` (or the `x-api-key` header)."
            )
        if not hmac.compare_digest(credential.encode(), self._key):
            raise Unauthenticated("Incorrect API key provided.")
        return MASTER
