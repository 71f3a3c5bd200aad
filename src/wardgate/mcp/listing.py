"""Pages of the federated lists (``tools/list``, ``resources/list``, ``resources/templates/list``,
``prompts/list``) and the cursors between them, plus the URI-template match that decides which resources a listed
template makes readable. Pure functions over data and one key.

A cursor is ``base64url({k: list, v: virtual server, o: offset}) . HMAC(k, body)[:12]``, ``k`` derived from the
master key: opaque to the client, refused (JSON-RPC -32602) when forged, altered, or presented to another list or
virtual server. The offset indexes the merged, filtered list as it is when the next page is asked for; a list that
changed in between may repeat or skip an item, which the MCP spec allows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

import orjson
from mcp.shared.exceptions import MCPError

from wardgate.mcp.errors import INVALID_PARAMS

T = TypeVar("T")
MAX_CURSOR = 256


class Cursors:
    def __init__(self, master_key: str) -> None:
        self._key = hmac.new(master_key.encode(), b"wardgate mcp cursor v1", hashlib.sha256).digest()

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def mint(self, kind: str, virtual_server: str, offset: int) -> str:
        raw = orjson.dumps({"k": kind, "v": virtual_server, "o": offset})
        body = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        return f"{body}.{self._mac(body)}"

    def offset(self, cursor: str, kind: str, virtual_server: str) -> int:
        """The offset a cursor this gateway minted for this list carries; anything else raises -32602."""
        if len(cursor) <= MAX_CURSOR and cursor.isascii():
            body, dot, mac = cursor.partition(".")
            if dot and hmac.compare_digest(mac, self._mac(body)):
                try:
                    data = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
                except ValueError:
                    data = None
                if isinstance(data, dict) and data.get("k") == kind and data.get("v") == virtual_server:
                    offset = data.get("o")
                    if isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0:
                        return offset
        raise MCPError(INVALID_PARAMS, "Invalid cursor.")

    def page(
        self, items: Sequence[T], cursor: str | None, kind: str, virtual_server: str, size: int
    ) -> tuple[list[T], str | None]:
        """The page a cursor (None: the first) points at, and the cursor of the next one (None: the last page)."""
        start = 0 if cursor is None else self.offset(cursor, kind, virtual_server)
        end = start + size
        following = self.mint(kind, virtual_server, end) if end < len(items) else None
        return list(items[start:end]), following


_EXPRESSION = re.compile(r"\{([+#./;?&]?)([^}]*)\}")


@lru_cache(maxsize=1024)
def _template_pattern(template: str) -> re.Pattern[str] | None:
    """A regex for the URIs an RFC 6570 template expands to (levels 1-4, values not checked against modifiers)."""
    out, at = [], 0
    for found in _EXPRESSION.finditer(template):
        out.append(re.escape(template[at : found.start()]))
        operator = found.group(1)
        if operator == "":
            out.append(r"[^/?#]*")
        elif operator in "+#":
            out.append(r"#?.*" if operator == "#" else r".*")
        elif operator in "./;":  # the class excludes the operator: no nested ambiguity, no backtracking blow-up
            out.append(r"(?:" + re.escape(operator) + r"[^/?#" + re.escape(operator) + r"]*)*")
        else:  # ? and &: a query part
            out.append(r"(?:[?&][^#]*)?")
        at = found.end()
    out.append(re.escape(template[at:]))
    try:
        return re.compile("".join(out))
    except re.error:
        return None


def template_matches(template: str, uri: str) -> bool:
    if len(template) > 2000 or len(uri) > 8000:
        return False
    pattern = _template_pattern(template)
    return pattern is not None and pattern.fullmatch(uri) is not None
