"""Client-certificate identity forwarded by an ingress that terminated mTLS (Envoy, nginx, a service mesh).

Wardgate sees no certificate itself: the ingress verifies it and forwards who it belongs to in a header, either
Envoy's ``x-forwarded-client-cert`` (XFCC: ``By=…;Hash=…;Subject="CN=…,OU=…";URI=spiffe://…``) or a plain RFC 4514
distinguished name (nginx ``$ssl_client_s_dn``). The header is believed only because the operator configured it: the
ingress must remove it from every client request (Envoy ``forward_client_cert_details: SANITIZE_SET``, nginx
``proxy_set_header``), and ``trusted_proxies`` narrows which peers may send it at all. A header sent twice is ignored:
an ingress that appends instead of replacing is misconfigured, and the first value could be the client's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any, Literal

from wardgate.config.identity import MTLSConfig
from wardgate.core.errors import Unauthenticated
from wardgate.core.principal import Principal, PrincipalKind
from wardgate.identity.external import ProjectDirectory, external_principal

log = logging.getLogger("wardgate.identity")
# until core/principal.py has a kind of its own for workload certificates; the id's "mtls:" prefix tells them apart
MTLS_KIND: PrincipalKind = "agent"
_XFCC_ONLY = ("uri", "dns", "by", "hash")
_DN_SPECIAL = ',+;"\\<>=# '


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes; a backslash inside quotes protects the next character."""
    parts, start, quoted, i = [], 0, False, 0
    while i < len(text):
        c = text[i]
        if c == "\\" and quoted:
            i += 1
        elif c == '"':
            quoted = not quoted
        elif c == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted:
        raise ValueError("unbalanced quotes")
    parts.append(text[start:])
    return parts


def parse_xfcc(value: str) -> list[dict[str, list[str]]]:
    """The elements of an XFCC header, one per proxy that added one, each as lower-cased key → values (URI and DNS
    may repeat). Quoted values lose their quotes and ``\\"`` escapes; DN escapes inside them are left for parse_dn."""
    elements = []
    for raw_element in _split(value, ","):
        element: dict[str, list[str]] = {}
        for pair in _split(raw_element, ";"):
            if not pair.strip():
                continue
            key, eq, val = pair.partition("=")
            key = key.strip()
            if not eq or not key or not key.isalnum():
                raise ValueError(f"not a key=value pair: {pair!r}")
            val = val.strip()
            if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
                val = val[1:-1].replace('\\"', '"')
            element.setdefault(key.lower(), []).append(val)
        if element:
            elements.append(element)
    if not elements:
        raise ValueError("empty XFCC header")
    return elements


def parse_dn(text: str) -> list[tuple[str, str]]:
    """An RFC 4514 distinguished name as (attribute type, value) pairs in written order (multi-valued RDNs are
    flattened). Escapes (``\\,`` and ``\\C3\\A9``) and legacy quoted values are decoded; ``#hex`` values are kept as
    written. OpenSSL's legacy ``/C=US/O=Acme/CN=x`` form is read too."""
    text = text.strip()
    if text.startswith("/"):
        pairs = [part.partition("=") for part in text[1:].split("/")]
        if not all(eq and key for key, eq, _ in pairs):
            raise ValueError("malformed /-separated DN")
        return [(key.strip(), value.strip()) for key, _, value in pairs]
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        eq = text.find("=", i)
        if eq < 0:
            raise ValueError(f"no '=' after {text[i:]!r}")
        attr = text[i:eq].strip()
        if not attr or not (attr[0].isalpha() or attr[0].isdigit()) or not all(c.isalnum() or c in "-." for c in attr):
            raise ValueError(f"bad attribute type {attr!r}")
        value, i = _dn_value(text, eq + 1)
        out.append((attr, value))
        while i < n and text[i] == " ":
            i += 1
        if i < n:
            if text[i] not in ",+;":
                raise ValueError(f"unexpected {text[i]!r} in DN")
            i += 1
            if i == n:
                raise ValueError("DN ends with a separator")
    if not out:
        raise ValueError("empty DN")
    return out


def _dn_value(text: str, i: int) -> tuple[str, int]:
    n = len(text)
    while i < n and text[i] == " ":
        i += 1
    if i < n and text[i] == "#":  # BER-encoded value, kept as written
        end = i + 1
        while end < n and text[end] not in ",+;":
            end += 1
        return text[i:end].rstrip(), end
    quoted = i < n and text[i] == '"'
    if quoted:
        i += 1
    raw = bytearray()
    trailing_spaces = 0  # unescaped spaces at the end of an unquoted value are not part of it
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                raise ValueError("DN ends inside an escape")
            pair = text[i + 1 : i + 3]
            if len(pair) == 2 and all(ch in "0123456789abcdefABCDEF" for ch in pair):
                raw.append(int(pair, 16))
                i += 3
            elif text[i + 1] in _DN_SPECIAL or text[i + 1] == "/":
                raw += text[i + 1].encode()
                i += 2
            else:
                raise ValueError(f"bad escape {text[i : i + 2]!r}")
            trailing_spaces = 0
            continue
        if quoted and c == '"':
            return raw.decode("utf-8"), i + 1
        if not quoted and c in ",+;":
            break
        raw += c.encode()
        trailing_spaces = trailing_spaces + 1 if c == " " else 0
        i += 1
    if quoted:
        raise ValueError("unterminated quoted value")
    if trailing_spaces:
        del raw[-trailing_spaces:]
    return raw.decode("utf-8"), i


@dataclass(frozen=True, slots=True)
class CertIdentity:
    subject: str | None
    uri: str | None
    project: str | None
    user: str | None


def cert_identity(
    value: str, subject_format: Literal["xfcc", "dn"], project_from: str, user_from: str | None
) -> CertIdentity:
    """What a forwarded-certificate header says: pure, raises ValueError when the header cannot be read.

    From XFCC only the first element counts: the one the edge proxy added for the client's own certificate (later
    elements describe the proxies between the edge and Wardgate)."""
    fields: dict[str, list[str]] = {}
    if subject_format == "xfcc":
        fields = parse_xfcc(value)[0]
        subject = fields.get("subject", [None])[0] or None
    else:
        subject = value.strip() or None
    names = parse_dn(subject) if subject is not None else []

    def attribute(name: str | None) -> str | None:
        if name is None:
            return None
        key = name.casefold()
        if key in _XFCC_ONLY:
            found = fields.get(key)
            return found[0] if found and found[0] else None
        return next((v for a, v in names if a.casefold() == key and v), None)

    uri = attribute("uri")
    if subject is None and uri is None:
        raise ValueError("the header names no subject and no URI")
    return CertIdentity(subject=subject, uri=uri, project=attribute(project_from), user=attribute(user_from))


class MTLSIdentity:
    def __init__(self, config: MTLSConfig, directory: ProjectDirectory) -> None:
        self.config = config
        self.directory = directory
        self.header = config.header.lower().encode("latin-1")
        self._trusted: tuple[IPv4Network | IPv6Network, ...] | None = (
            tuple(config.trusted_proxies) if config.trusted_proxies is not None else None
        )

    def read(self, scope: Mapping[str, Any]) -> str | None:
        """The header's value, if the peer is a trusted proxy and the header was sent exactly once."""
        if self._trusted is not None and not self.trusted_peer(scope.get("client")):
            return None
        values = [v for k, v in scope["headers"] if k == self.header]
        if len(values) != 1:
            if values:
                log.warning("%s sent %d times; ignored (the ingress must replace it)", self.config.header, len(values))
            return None
        return values[0].decode("latin-1") or None

    def trusted_peer(self, client: Any) -> bool:
        if self._trusted is None:
            return True
        if not client:
            return False
        try:
            address = ip_address(client[0])
        except ValueError:
            return False
        mapped = getattr(address, "ipv4_mapped", None)
        return any(address in net or (mapped is not None and mapped in net) for net in self._trusted)

    async def authenticate(self, value: str) -> Principal:
        config = self.config
        try:
            cert = cert_identity(value, config.subject_format, config.project_from, config.user_from)
        except ValueError as exc:  # UnicodeDecodeError included
            raise Unauthenticated(
                f"The forwarded client certificate ({config.header}) cannot be read: {exc}.",
                code="invalid_client_certificate",
            ) from None
        return await external_principal(
            self.directory,
            kind=MTLS_KIND,
            id=f"mtls:{cert.uri or cert.subject}",
            project_ref=cert.project,
            team_ref=None,
            user=cert.user,
            models=None,
            tags={"subject": cert.subject} if cert.subject else {},
            require_project=True,
            source=f"client certificate ({config.project_from})",
        )
