"""The web console's session cookie: the caller's credential sealed with AES-GCM under a key derived from
``ui.session_secret`` (else ``master_key``), so every replica that shares the config opens every session and no
session table is needed.

The cookie carries the credential itself, so each request is authenticated exactly as if the key were sent in a
header: a revoked key or a removed role ends the session's rights at once. The CSRF token is an HMAC of the cookie's
nonce: it changes with each sign-in and needs no storage either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
from dataclasses import dataclass

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wardgate.config.schema import Settings

COOKIE = "wardgate_session"
CSRF_HEADER = "x-csrf-token"
MAX_COOKIE = 3500  # a browser keeps about 4 KB per cookie; a longer value is not one of ours
_SEAL = b"wardgate console session seal v1"
_CSRF = b"wardgate console csrf v1"
_NONCE = 12


@dataclass(frozen=True, slots=True)
class Session:
    credential: str
    csrf_token: str
    expires_at: int  # Unix seconds


class SessionCodec:
    def __init__(self, secret: bytes, ttl_s: float) -> None:
        self._aead = AESGCM(hmac.new(secret, _SEAL, hashlib.sha256).digest())
        self._csrf = hmac.new(secret, _CSRF, hashlib.sha256).digest()
        self.ttl_s = ttl_s

    def seal(self, credential: str, now: float) -> tuple[str, Session]:
        nonce = os.urandom(_NONCE)
        expires = int(now + self.ttl_s)
        sealed = self._aead.encrypt(nonce, orjson.dumps({"c": credential, "e": expires}), COOKIE.encode())
        value = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return value, Session(credential, self._token(nonce), expires)

    def open(self, value: str, now: float) -> Session | None:
        """The session a cookie holds, or None (not ours, tampered with, expired)."""
        if not value or len(value) > MAX_COOKIE:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) <= _NONCE + 16:
            return None
        nonce = raw[:_NONCE]
        try:
            payload = orjson.loads(self._aead.decrypt(nonce, raw[_NONCE:], COOKIE.encode()))
        except (InvalidTag, orjson.JSONDecodeError):
            return None
        credential, expires = payload.get("c"), payload.get("e")
        if not isinstance(credential, str) or not isinstance(expires, int) or expires <= now:
            return None
        return Session(credential, self._token(nonce), expires)

    def _token(self, nonce: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._csrf, nonce, hashlib.sha256).digest()[:24]).decode()


def codec_for(settings: Settings) -> SessionCodec | None:
    """None when no secret is configured: the console then cannot sign anyone in."""
    ui = settings.ui
    if ui.session_secret is not None:
        secret = ui.session_secret.get_secret_value().encode()
    elif settings.master_key is not None:
        secret = hmac.new(settings.master_key.get_secret_value().encode(), _SEAL, hashlib.sha256).digest()
    else:
        return None
    return SessionCodec(secret, ui.session_ttl_s)


def cookie_of(header: str | None, cookie: str = COOKIE) -> str | None:
    """A cookie's value in a Cookie header (the first, as browsers send the most specific path first)."""
    if not header:
        return None
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == cookie:
            return value
    return None


def is_loopback(host: str) -> bool:
    """Whether a Host header names this machine: only there may the cookie go without ``Secure`` (plain HTTP)."""
    if host.startswith("["):  # [::1]:8080
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def set_cookie(value: str, max_age: int, host: str) -> str:
    secure = "" if is_loopback(host) else "; Secure"
    return f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
