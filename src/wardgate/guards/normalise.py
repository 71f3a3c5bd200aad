"""What a text may hide, for the injection rules: the text NFKC-folded without zero-width or bidi characters,
leetspeak undone, combining marks stripped, invisible Unicode tag characters read as ASCII, letter-spaced words
joined, and the base64/hex blobs it contains decoded. Bounded: at most MAX_TEXT characters and MAX_DECODE blobs.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

_LEET_WORD = re.compile(r"[a-z][013457@$!|]+[a-z]", re.IGNORECASE)
_LEET_TOKEN = re.compile(r"[^\s013457@$!|]*(?:[A-Za-z][013457@$!|]|[013457@$!|][A-Za-z])\S*")

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u202a\u202b\u202c\u202d\u202e"), None)
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"}
)
_BLOB_HINT = re.compile(r"[A-Za-z0-9+/]{20}")  # stdlib re: several times faster on these simple scans
_BLOB = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])|\b(?:[0-9a-fA-F]{2}){12,}\b")
_SPACED = re.compile(r"\b(?:\w[ .\-_*]){4,}\w\b")
_SEPARATORS = re.compile(r"[ .\-_*]")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]{2,}")
_MAX_DECODE = 20  # blobs decoded per text: a flood of them costs no more than this
MAX_TEXT = 200_000  # characters looked at per text (the size guard bounds prompts; this bounds the work)


def _decoded(text: str) -> list[str]:
    out: list[str] = []
    if _BLOB_HINT.search(text) is None:
        return out
    for m in _BLOB.finditer(text):
        blob = m.group()
        try:
            if len(blob) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in blob):
                raw = bytes.fromhex(blob)
            else:
                raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=False)
        except (binascii.Error, ValueError):
            continue
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if decoded.isprintable() or all(c.isprintable() or c.isspace() for c in decoded):
            out.append(decoded)
        if len(out) >= _MAX_DECODE:
            break
    return out


def _unleet(m: re.Match[str]) -> str:
    token = m.group()
    letters = sum(c.isalpha() for c in token)
    return token.translate(_LEET) if letters * 2 >= len(token) else token


def variants(text: str) -> list[str]:
    """The text and what it may hide: NFKC-folded without zero-width or bidi characters, leetspeak undone,
    letter-spaced words joined, and the decoded base64/hex blobs it contains."""
    text = text[:MAX_TEXT]
    ascii = text.isascii()  # NFKC leaves ASCII as it is, and zero-width, combining and tag characters are not ASCII
    folded = text if ascii else unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    out = [text]
    if folded != text:
        out.append(folded)
    if _LEET_WORD.search(folded):  # only mostly-letter tokens are undone: timestamps and IDs stay as they are
        leet = _LEET_TOKEN.sub(_unleet, folded)
        if leet != folded:
            out.append(leet)
    if not ascii:
        if _COMBINING.search(folded):
            out.append(_COMBINING.sub("", folded))
        tags = "".join(chr(ord(c) - 0xE0000) for c in text if 0xE0020 <= ord(c) <= 0xE007E)
        if tags:
            out.append(tags)
    spaced = _SPACED.sub(lambda m: _SEPARATORS.sub("", m.group()), folded)
    if spaced != folded:
        out.append(spaced)
    out.extend(_decoded(folded))
    return out


WHOLE_UNDER = 800  # a variant shorter than this is scanned whole


def changed_lines(text: str, variant: str, context: int = 1) -> str:
    """The lines of ``variant`` that differ from ``text``, with ``context`` lines either side: all that is new in a
    variant of a long text (the rules have already scanned the rest in the text itself). The whole variant when it
    is short or its lines do not pair up with the text's."""
    if len(variant) < WHOLE_UNDER:
        return variant
    old, new = text.splitlines(), variant.splitlines()
    if len(old) != len(new):
        return variant
    keep: set[int] = set()
    for i, (a, b) in enumerate(zip(old, new, strict=True)):
        if a != b:
            keep.update(range(max(i - context, 0), min(i + context + 1, len(new))))
    return "\n".join(new[i] for i in sorted(keep))
