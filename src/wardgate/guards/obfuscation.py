"""Encoded-payload smuggling, offline: text hidden in an encoding the model can read but a filter cannot (base64,
base32, hex, ascii85, uuencode, Morse, Braille, the NATO alphabet, emoji encodings, zalgo, invisible Unicode tag
characters, runs of mixed-script symbols), and the requests that ask a model to decode and repeat it.

The signals, each a finding of category ``injection.encoded``:

- ``blob``: an opaque token (one that is not written in any one script's words) or a run of Morse, Braille, NATO
  words or emoji: weight 1;
- ``cue``: a request to decode ("decode the following ROT13", an ``Encoded: … / Decoded:`` completion frame, "what
  does this mean?"): weight 1;
- ``only``: opaque tokens are most of the text, so there is nothing else for the model to do than decode them:
  weight 1;
- invisible Unicode tag characters carrying ASCII: weight 2 on their own (no legitimate prompt hides text).

So a balanced guard blocks a decode request over an opaque payload, or an opaque payload alone, but neither a
mention of base64 nor a base64 image in code. The decoded text of base64/hex/tag blobs is also scored by the
injection rules (injection.variants).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable

from wardgate.guards import substitution
from wardgate.guards.findings import Finding
from wardgate.guards.needles import Needles

_TAGS = re.compile("(?<![\U0001f3f4\U000e0020-\U000e007f])[\U000e0020-\U000e007e]{2,}(?!\U000e007f)")
_MORSE = re.compile(r"(?:(?<=\s)|^)[.\-]{1,7}(?:[ /]+[.\-]{1,7}){3,}(?=\s|$)", re.MULTILINE)
_MORSE_SHORT = re.compile(
    r"(?=[.\-])(?:(?<=\s)|^)(?=[^\n]*\.)(?=[^\n]*-)[.\-]{1,7}(?:[ /]+[.\-]{1,7}){2}(?=\s|$)", re.MULTILINE
)
_BRAILLE = re.compile("[\u2800-\u28ff][\u2800-\u28ff ]{3,}")
_NATO_WORDS = (
    "alfa|alpha|bravo|charlie|delta|echo|foxtrot|golf|hotel|india|juliett|juliet|kilo|lima|mike|november|oscar|"
    "papa|quebec|romeo|sierra|tango|uniform|victor|whiskey|x-ray|xray|yankee|zulu"
)
_NATO = re.compile(rf"\b(?:(?:{_NATO_WORDS})[\s,]+){{3,}}(?:{_NATO_WORDS})\b")
_NATO_SHORT = re.compile(rf"\b(?:(?:{_NATO_WORDS})[\s,]+){{2}}(?:{_NATO_WORDS})\b")
_EMOJI_RUN = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d]{6,}")
_EMOJI_SHORT = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf]{4,}")
# the patterns below are lower case and run on the lower-cased text (IGNORECASE makes such alternations ~3x slower)
_CUE = re.compile(
    r"\b(?:decode|decipher|decrypt|unscramble|de-?obfuscate)\b"
    r"|(?:^|\n)[^\n]{0,40}\bencoded(?:\s+(?:string|text|message|data))?\s*:.*(?:\n|\\n)[^\n]{0,40}\bdecoded\b"
    r"|\bwhat\s+does\s+(?:this|the\s+following)\s+(?:mean|say)\b"
    r"|\b(?:base\s?(?:64|32|16|85|2048)|rot-?13|atbash|morse|braille|ecoji|zalgo|uuencoded?|ascii85)\b"
    r"[^\n]{0,20}\b(?:encoded|decoded|string|message|text)\b",
)
_FRAME = re.compile(
    r"(?:^|\n)[^\n]{0,30}\bencoded(?:\s+(?:string|text|message))?\s*:[^\n]{1,2000}\n+[^\n]{0,30}\bdecoded"
    r"(?:\s+(?:string|text|message))?\s*:\s*$",
)
_CIPHER = re.compile(
    r"\b(?:decode|decipher|decrypt)\s+(?:the\s+following|this|these)\s+(?:rot-?13|atbash|caesar)\b"
    r"|\b(?:rot-?13|atbash|caesar)\s+encoded\s+(?:string|text|message)\s*:",
)


_CUE_NEEDLES = (
    "decode", "decipher", "decrypt", "unscramble", "obfuscate", "encoded", "base", "rot", "atbash", "morse", "braille",
    "ecoji", "zalgo", "uuencode", "ascii85",
)  # fmt: skip
_CIPHER_NEEDLES = ("rot", "atbash", "caesar")  # what _CIPHER needs
_NATO_NEEDLES = tuple(_NATO_WORDS.split("|"))  # a NATO run holds one of its words
_ASKED_NEEDLES = ("what", "does", "this", "the", "mean", "say")
# every literal this scan looks for before running a pattern (the injection scorer finds them in one pass)
NEEDLES = frozenset((*_CUE_NEEDLES, *_CIPHER_NEEDLES, *_NATO_NEEDLES, *_ASKED_NEEDLES, "decoded"))


def _cue_hint(found: set[str]) -> bool:
    """Whether the lower-cased text holds the words each of _CUE's alternatives needs (else _CUE finds nothing)."""
    if not found.isdisjoint(_CUE_NEEDLES):
        return True
    return (
        "what" in found
        and "does" in found
        and ("this" in found or "the" in found)
        and ("mean" in found or "say" in found)
    )


_ASKED = re.compile(r"\bwhat\s+does\s+(?:this|the\s+following)\s+(?:mean|say)\s*\??")
# a token of four or more characters, but not a plain word (a cheap pre-filter, in the regex engine, of _opaque)
_TOKEN = re.compile(r"(?<!\S)(?![A-Za-z][a-z]*[.,;:!?)\"']*(?!\S))\S{4,}")
_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
_WORDLIKE = re.compile(r"[A-Za-z][a-z]*(?:['’-][A-Za-z]+)*[.,;:!?)\"']*|[(\"'][A-Za-z][a-z]*")
_MAX_TOKENS = 4000
_MAX_UU_LINES = 50
_B64_RUN = re.compile(r"[A-Za-z0-9+/_\-]{8,}={0,2}|[A-Za-z0-9+/]{2,}={1,2}")  # padding marks a short one
_HEX_RUN = re.compile(r"(?:[0-9a-fA-F]{2}){3,}")
_B32_RUN = re.compile(r"[A-Z2-7]{8,}=*|[A-Z2-7]{2,}=+")
# a uuencoded line: its length character, then only characters from space to underscore (no lower case)
_UU_LINE = re.compile(r"^[ \t]*([!-M][ -_`]{3,60}?)[ \t]*$", re.MULTILINE)
_JOINERS = re.compile(r"[-_./:,;+'’]")
# camelCase, PascalCase, snake_case, HTTP2, ISO8601 (each alternative starts differently: no backtracking blow-up)
_IDENTIFIER = re.compile(r"(?:[a-z]+|[A-Z][a-z]+|[A-Z]+(?=\d))(?:[A-Z][a-z]+|\d+|_[a-z0-9]+)+")


def _texty(raw: bytes, least: int = 4) -> bool:
    """Bytes that read as text: UTF-8, printable, at least ``least`` characters and mostly letters."""
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if len(decoded) < least or not all(c.isprintable() or c in "\t\n\r" for c in decoded):
        return False
    if len(decoded) >= 12 and decoded.isascii():  # random bytes are rarely a dozen printable ASCII characters
        return True
    letters = sum(c.isalpha() for c in decoded)
    return letters * 5 >= len(decoded.replace(" ", "")) * 2


def _decodes_to_text(core: str, least: int = 4) -> bool:
    """Whether some standard binary-to-text decoding of ``core`` (or of a base64/hex/base32 run in it) is text."""
    for run in _B64_RUN.findall(core):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                if _texty(decode(run + "=" * (-len(run) % 4)), least):
                    return True
            except (binascii.Error, ValueError):
                pass
    attempts: list[tuple[Callable[[str], bytes], str]] = []
    if _HEX_RUN.fullmatch(core):
        attempts.append((bytes.fromhex, core))
    if _B32_RUN.fullmatch(core):
        attempts.append((lambda t: base64.b32decode(t + "=" * (-len(t) % 8)), core.rstrip("=")))
    attempts.append((lambda t: base64.a85decode(t), core))
    attempts.append((lambda t: base64.b85decode(t), core))
    attempts.append((lambda t: binascii.a2b_uu(t), core))
    for decoder, value in attempts:
        try:
            if _texty(decoder(value), least):
                return True
        except (binascii.Error, ValueError, TypeError):
            pass
    return False


def _opaque(token: str, least: int = 4) -> bool:
    """A token that is not a word, number, identifier, path or address of any one script: one that decodes to text
    (base64, base32, hex, ascii85, uuencode), mixes letters of several scripts, or piles combining marks."""
    if (
        "://" in token
        or _EMAIL.fullmatch(token.strip(".,;:!?()[]{}<>\"'`"))
        or token.startswith(("/", "./", "~/", "#", "$", "<", "&"))
    ):
        return False
    if token.isascii():
        core = token.strip(".,;:!?()[]{}\"'`")
        if len(core) < 2 + least or _WORDLIKE.fullmatch(core) or _IDENTIFIER.fullmatch(core):
            return False
        if core.isdigit():  # a number, unless it is a long run of hex pairs that reads as text
            return len(core) >= 12 and len(core) % 2 == 0 and _texty(bytes.fromhex(core), least)
        if all(part.isalpha() or part.isdigit() for part in _JOINERS.split(core) if part):
            return False  # hyphenated words, dotted names, dates, versions, paths
        if '":' in core or '="' in core or "('" in core or "({" in core:
            return False  # JSON and code
        return _decodes_to_text(core, least)
    marks = sum(1 for c in token if unicodedata.combining(c))
    if marks >= 3 and marks >= len(token) - marks:
        return True
    scripts = {unicodedata.name(c, "?").split(" ")[0] for c in token if c.isalpha() and not c.isascii()}
    return len(scripts) >= 2 and len(token) >= 3


def _uu(line: str, least: int) -> bool:
    try:
        return _texty(binascii.a2b_uu(line), least)
    except (binascii.Error, ValueError):
        return False


def findings(text: str, lower: str | None = None, found: set[str] | None = None) -> list[tuple[Finding, int]]:
    """The encoded-payload signals of ``text``, each with its weight (at most one per signal kind). ``lower``: the
    text lower-cased with its length kept; ``found``: the ``NEEDLES`` in it (both found here when not given)."""
    out: list[tuple[Finding, int]] = []
    if lower is None:
        lower = text.lower()
        if len(lower) != len(text):  # a few characters lower-case to two (İ): keep the spans in the text
            lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    if found is None:
        found = _OWN_NEEDLES.found(lower)
    # each pattern below is tried only when the characters or words it needs are there (tags, Braille and emoji are
    # not ASCII; Morse needs a dot or a dash): the same answers, without a dozen scans of every plain prompt
    ascii = text.isascii()
    m = None if ascii else _TAGS.search(text)
    if m:
        out.append((Finding("injection.encoded", m.start(), m.end()), 2))
    # a letter-substitution cipher (ROT13, Atbash, Caesar) hides words among words: what gives it away is the
    # request to decode it by name, or a completion frame that leaves the decoded text for the model to write
    m = _FRAME.search(lower) if "decoded" in found else None
    if m is None and not found.isdisjoint(_CIPHER_NEEDLES):
        m = _CIPHER.search(lower)
    if m:
        out.append((Finding("injection.encoded", m.start(), m.end()), 2))
    blob_span: tuple[int, int] | None = None
    opaque_chars = 0
    nato = not found.isdisjoint(_NATO_NEEDLES)
    blobs = [(_NATO, lower)] if nato else []
    if "." in text or "-" in text:
        blobs.insert(0, (_MORSE, text))
    if not ascii:
        blobs += [(_BRAILLE, text), (_EMOJI_RUN, text)]
    for rx, subject in blobs:
        for bm in rx.finditer(subject):
            blob_span = blob_span or (bm.start(), bm.end())
            opaque_chars += bm.end() - bm.start()
    cue = _CUE.search(lower) if _cue_hint(found) else None
    least = 2 if cue else 4  # asked to decode: a shorter hidden word counts
    for i, tm in enumerate(_TOKEN.finditer(text)):
        if i >= _MAX_TOKENS:
            break
        if _opaque(tm.group(), least):
            blob_span = blob_span or (tm.start(), tm.end())
            opaque_chars += tm.end() - tm.start()
    for n, lm in enumerate(_UU_LINE.finditer(text)):  # uuencoded lines hold spaces: they are tried whole
        if n >= _MAX_UU_LINES:
            break
        if _uu(lm.group(1), least):
            blob_span = blob_span or (lm.start(1), lm.end(1))
            opaque_chars += lm.end(1) - lm.start(1)
    # shorter runs are a payload when the text asks to decode them, or (emoji) when they are all there is
    shorts = [_MORSE_SHORT, _NATO_SHORT, _EMOJI_SHORT] if cue else [_EMOJI_SHORT] if opaque_chars == 0 else []
    if ascii or not nato:
        shorts = [rx for rx in shorts if not (rx is _EMOJI_SHORT and ascii or rx is _NATO_SHORT and not nato)]
    for rx in shorts:
        short = rx.search(lower)
        if short is None or (rx is _EMOJI_SHORT and len(set(short.group())) < 4):
            continue
        if cue or len(short.group()) * 2 >= len(text.strip()):
            blob_span = blob_span or (short.start(), short.end())
            opaque_chars += short.end() - short.start()
    if blob_span is None and len(text) <= substitution.MAX_TEXT and text.isascii():
        payload = lower if cue is None else _CUE.sub(" ", lower)  # no cue found: nothing to take out
        payload = _ASKED.sub(" ", payload) if "what" in payload else payload
        if substitution.deciphered(payload, least=5 if cue or payload != lower else 8) is not None:
            blob_span = (0, len(text))
            opaque_chars += len(payload.strip())
    if blob_span is None:
        return out
    out.append((Finding("injection.encoded", *blob_span), 1))
    if cue:
        out.append((Finding("injection.encoded", cue.start(), cue.end()), 1))
    plain = len(re.sub(r"\s+", "", text)) - (len(re.sub(r"\s+", "", cue.group())) if cue else 0)
    if opaque_chars * 2 >= max(plain, 1):
        out.append((Finding("injection.encoded", *blob_span), 1))
    return out


_OWN_NEEDLES = Needles(NEEDLES)
