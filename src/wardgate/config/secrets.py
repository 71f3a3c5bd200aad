"""Provider secrets at rest: the admin API's providers keep their keys in the store encrypted with Fernet
(AES-128-CBC with an HMAC-SHA256, from ``cryptography``), under ``catalog.secret_keys`` or the
``WARDGATE_SECRET_KEYS`` environment variable.

Rotation: every listed key decrypts and the first encrypts, so a new key goes first and the old ones stay listed
until each provider has been saved again (``POST /admin/v1/providers/rotate`` re-encrypts them all at once).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from wardgate.config.schema import Settings

SECRET_KEYS_ENV = "WARDGATE_SECRET_KEYS"
GENERATE = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


class SecretsUnavailable(Exception):
    """No key is configured, or none of them opens a stored value."""


def check_key(key: str) -> str | None:
    """What is wrong with a Fernet key, or None."""
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        return f"is not a Fernet key (urlsafe base64 of 32 bytes); generate one with: {GENERATE}"
    return None


def configured_keys(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """The config's keys, else the environment's (comma-separated); invalid environment keys are skipped."""
    keys = [k.get_secret_value() for k in settings.catalog.secret_keys]
    if keys:
        return keys
    raw = (os.environ if env is None else env).get(SECRET_KEYS_ENV, "")
    return [k.strip() for k in raw.split(",") if k.strip() and check_key(k.strip()) is None]


class SecretBox:
    """Seals a mapping of secret values into one token and opens it again."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._fernet: Any = None
        if keys:
            from cryptography.fernet import Fernet, MultiFernet

            self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in keys])

    @classmethod
    def of(cls, settings: Settings) -> SecretBox:
        return cls(configured_keys(settings))

    @property
    def ready(self) -> bool:
        return self._fernet is not None

    def seal(self, values: Mapping[str, Any]) -> str:
        if self._fernet is None:
            raise SecretsUnavailable(
                f"no key to encrypt provider secrets: set catalog.secret_keys or {SECRET_KEYS_ENV}"
            )
        return str(self._fernet.encrypt(orjson.dumps(dict(values))).decode("ascii"))

    def open(self, token: str) -> dict[str, Any]:
        from cryptography.fernet import InvalidToken

        if self._fernet is None:
            raise SecretsUnavailable(
                f"no key to decrypt provider secrets: set catalog.secret_keys or {SECRET_KEYS_ENV}"
            )
        try:
            value = orjson.loads(self._fernet.decrypt(token.encode("ascii")))
        except (InvalidToken, UnicodeEncodeError, orjson.JSONDecodeError):
            raise SecretsUnavailable("cannot be decrypted with any of the configured secret keys") from None
        if not isinstance(value, dict):
            raise SecretsUnavailable("the stored secrets are damaged")
        return value

    def rotate(self, token: str) -> str:
        """The same secrets, encrypted with the first key."""
        return self.seal(self.open(token))
