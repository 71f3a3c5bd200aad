"""PII patterns with their checksums: e-mail, phone, payment card (Luhn), IBAN (mod 97), IP addresses and national
identifiers of eleven countries. Bare digit runs that only a checksum tells apart (BSN, PESEL, the German tax id …)
also need a keyword just before them, unless the guard is ``strict``. Person names and postal addresses are in
person.py and address.py."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import replace

import regex

from wardgate.guards.findings import DIGIT, DIGIT_TRIGGER, Pattern, compile_rx, luhn, only_digits


def _card(text: str) -> bool:
    digits = only_digits(text)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn(digits)


def _iban(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in moved))
    except ValueError:
        return False
    return number % 97 == 1


# a phone number starts after a non-word character, or after a literal escape (``\n`` in text pasted from JSON or
# code), and ends before anything but another digit or a hyphen and digit ("555-0132-Fax" ends at the 2)
_BEFORE_PHONE = r"(?:(?<=\\[nrt])|(?<![\w+.-]))"
_AFTER_PHONE = r"(?!\d|-\d)"
_SSN_SHAPE = r"\d{3}-\d{2}-\d{4}(?![\d-])"


def _phone(text: str) -> bool:
    digits = only_digits(text)
    if text.startswith("+"):
        return 8 <= len(digits) <= 15
    return 9 <= len(digits) <= 12 and len(set(digits)) > 2


def _ipv4(text: str) -> bool:
    parts = text.split(".")
    return all(len(p) == 1 or p[0] != "0" for p in parts) and text not in ("0.0.0.0", "255.255.255.255")


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return text.count(":") >= 3


def _ssn(text: str) -> bool:
    area, group, serial = text[:3], text[4:6], text[7:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _nir(text: str) -> bool:
    digits = only_digits(text)
    return len(digits) == 15 and 97 - int(digits[:13]) % 97 == int(digits[13:])


def _de_tax(text: str) -> bool:
    if len(text) != 11 or text[0] == "0":
        return False
    product = 10
    for ch in text[:10]:
        total = (int(ch) + product) % 10 or 10
        product = (total * 2) % 11
    check = 11 - product
    return (0 if check == 10 else check) == int(text[10])


def _dni(text: str) -> bool:
    compact = text.replace("-", "").upper()
    number = compact[:-1]
    number = {"X": "0", "Y": "1", "Z": "2"}.get(number[0], number[0]) + number[1:]
    return "TRWAGMYFPDXBNJZSQVHLCKE"[int(number) % 23] == compact[-1]


_CF_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]


def _cf(text: str) -> bool:
    text = text.upper()
    total = 0
    for i, ch in enumerate(text[:15]):
        index = int(ch) if ch.isdigit() else ord(ch) - 65
        total += _CF_ODD[index] if i % 2 == 0 else index
    return chr(65 + total % 26) == text[15]


def _bsn(text: str) -> bool:
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return text != "000000000" and sum(int(c) * w for c, w in zip(text, weights, strict=True)) % 11 == 0


def _pesel(text: str) -> bool:
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    return (10 - sum(int(c) * w for c, w in zip(text, weights, strict=False)) % 10) % 10 == int(text[10])


def _personnummer(text: str) -> bool:
    digits = only_digits(text)[-10:]
    return len(digits) == 10 and luhn(digits) and 1 <= int(digits[2:4]) <= 12


_VD = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
       [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
       [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
       [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]  # fmt: skip
_VP = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
       [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
       [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]  # fmt: skip


def _aadhaar(text: str) -> bool:
    digits = only_digits(text)
    check = 0
    for i, ch in enumerate(reversed(digits)):
        check = _VD[check][_VP[i % 8][int(ch)]]
    return len(digits) == 12 and check == 0


def _cpf(text: str) -> bool:
    d = [int(c) for c in only_digits(text)]
    if len(d) != 11 or len(set(d)) == 1:
        return False
    for n in (9, 10):
        total = sum(d[i] * (n + 1 - i) for i in range(n))
        if (total * 10 % 11) % 10 != d[n]:
            return False
    return True


def _ctx(words: str) -> regex.Pattern[str]:
    return compile_rx(rf"(?:{words})\W{{0,3}}(?:\w+\W{{1,3}}){{0,3}}$", regex.IGNORECASE)


_B = r"(?<![\w.+-])"  # not glued to a longer word
_E = r"(?![\w@])"

PATTERNS: dict[str, Sequence[Pattern]] = {
    "email": [
        Pattern(
            "email",
            compile_rx(_B + r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b"),
        )
    ],
    "phone": [
        Pattern(
            "phone",
            compile_rx(rf"{_BEFORE_PHONE}\+[1-9]\d{{0,2}}(?:[ .-]?\(?\d{{1,4}}\)?){{2,5}}{_AFTER_PHONE}"),
            _phone,
        ),
        Pattern(
            "phone",
            compile_rx(rf"{_BEFORE_PHONE}(?:\(\d{{3}}\)\s?|\d{{3}}[ .-])\d{{3}}[ .-]\d{{4}}{_AFTER_PHONE}"),
            _phone,
        ),
        Pattern(
            "phone",
            compile_rx(rf"{_BEFORE_PHONE}(?!{_SSN_SHAPE})0\d{{1,4}}(?:[ .-]\d{{2,4}}){{2,4}}{_AFTER_PHONE}"),
            _phone,
        ),
    ],
    "credit_card": [
        Pattern("credit_card", compile_rx(r"(?<![\d-])[2-6]\d{3}(?:[ -]?\d{4}){2}[ -]?\d{1,7}(?![\d-])"), _card)
    ],
    "iban": [Pattern("iban", compile_rx(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}\b"), _iban)],
    "ip_address": [
        Pattern(
            "ip_address",
            compile_rx(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\w.]*\w)"),
            _ipv4,
        ),
        Pattern("ip_address", compile_rx(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])"), _ipv6),
    ],
    "us_ssn": [Pattern("us_ssn", compile_rx(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"), _ssn)],
    "uk_nino": [
        Pattern(
            "uk_nino",
            compile_rx(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
        )
    ],
    "fr_nir": [
        Pattern(
            "fr_nir",
            compile_rx(r"(?<!\d)[12] ?\d{2} ?(?:0[1-9]|1[0-2]) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?!\d)"),
            _nir,
        )
    ],
    "de_tax_id": [
        Pattern(
            "de_tax_id",
            compile_rx(r"(?<!\d)\d{11}(?!\d)"),
            _de_tax,
            context=_ctx(r"steuer|tax|tin|idnr|identifikationsnummer"),
        )
    ],
    "es_dni": [Pattern("es_dni", compile_rx(r"\b[XYZ0-9]\d{7}-?[A-Z]\b"), _dni)],
    "it_fiscal_code": [
        Pattern(
            "it_fiscal_code", compile_rx(r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b", regex.IGNORECASE), _cf
        )
    ],
    "nl_bsn": [Pattern("nl_bsn", compile_rx(r"(?<!\d)\d{9}(?!\d)"), _bsn, context=_ctx(r"bsn|burgerservice\w*|sofi"))],
    "pl_pesel": [Pattern("pl_pesel", compile_rx(r"(?<!\d)\d{11}(?!\d)"), _pesel, context=_ctx(r"pesel"))],
    "se_personnummer": [
        Pattern("se_personnummer", compile_rx(r"(?<![\d-])(?:\d{2})?\d{6}[-+]\d{4}(?!\d)"), _personnummer)
    ],
    "in_aadhaar": [
        Pattern(
            "in_aadhaar",
            compile_rx(r"(?<!\d)[2-9]\d{3} ?\d{4} ?\d{4}(?!\d)"),
            _aadhaar,
            context=_ctx(r"aadhaar|uidai|uid"),
        )
    ],
    "br_cpf": [Pattern("br_cpf", compile_rx(r"(?<!\d)\d{3}\.\d{3}\.\d{3}-\d{2}(?!\d)"), _cpf)],
}

# a NINO's second letter [A-CEGHJ-NPR-TW-Z] and the space after it, where a digit or the text's end follows: an
# acronym before a word ("HTTP proxy", "AWS region") starts none, and is no reason for a stream's full step
_NINO_STARTS = (DIGIT_TRIGGER, *(f"{c} (?={DIGIT_TRIGGER}|\\Z)" for c in "ABCEGHJKLMNPRSTWXYZ"))
_SPACED = frozenset({"phone", "credit_card", "iban", "uk_nino", "fr_nir", "in_aadhaar"})  # values with spaces in
_COLON, _DIGIT_START = re.compile(":"), re.compile(r"[\d+(]")
# a spaced value the stream must hold back holds a space, so it is more than its first letters: an IBAN's start is two
# capitals and a digit; a NINO's its two letters and a space or a digit
_LETTERS_START = {
    "iban": re.compile(f"[A-Z][A-Z]{DIGIT_TRIGGER}"),
    "uk_nino": re.compile(f"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z](?: |{DIGIT_TRIGGER})"),
}


def _hinted(pattern: Pattern) -> Pattern:
    if pattern.entity == "email":
        return replace(pattern, needles=("@",), trigger=("@",))
    ipv6 = "(?::" in pattern.rx.pattern
    hint = _COLON if ipv6 else DIGIT  # IPv6 needs a colon, the others a digit
    spaced = pattern.entity in _SPACED
    # the start of a phone number, a card, a NIR or an Aadhaar number holds a digit, "+" or "("; an IBAN's or a
    # NINO's its letters and what follows them
    partial = _LETTERS_START.get(pattern.entity, _DIGIT_START) if spaced else None
    # what a stream must see before a value can be there (Pattern.trigger): a digit, or for a NINO, whose start
    # "AB " has no digit yet, its second letter and the space after it (every other start holding a space has digits)
    trigger = (":",) if ipv6 else _NINO_STARTS if pattern.entity == "uk_nino" else (DIGIT_TRIGGER,)
    return replace(pattern, hint=hint, spaced=spaced, partial_hint=partial, trigger=trigger)


PATTERNS = {entity: [_hinted(p) for p in patterns] for entity, patterns in PATTERNS.items()}


def patterns(entity: str, sensitivity: str = "balanced") -> Sequence[Pattern]:
    """An entity's patterns. Person names and addresses are imported only when a guard asks for them (the name
    lists are read then); which names are found depends on the sensitivity."""
    if entity == "person":
        from wardgate.guards import person

        return person.PATTERNS[sensitivity]
    if entity == "address":
        from wardgate.guards import address

        return address.PATTERNS
    return PATTERNS[entity]
