"""The audit chain's pure parts: the key, the row hashes of both formats, and signed checkpoints (audit.py writes
them, audit_verify.py checks them)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS = "0" * 64
ANCHORED = 2  # the row format written when a key is configured
_DERIVE = b"wardgate audit hmac key v1"
_KEY_ID = b"wardgate audit key id"


def audit_key(hmac_key: str | None, master_key: str | None) -> bytes | None:
    """``audit.hmac_key`` when set; else a key derived from ``master_key`` (one-way, so the audit key does not
    reveal the master key); None when neither is known (the trail is then written unanchored, format 1)."""
    if hmac_key:
        return hmac_key.encode()
    if master_key:
        return hmac.new(master_key.encode(), _DERIVE, hashlib.sha256).digest()
    return None


def key_id(key: bytes) -> str:
    """A short public name of a key: tells "another key" apart from "tampered" without revealing the key."""
    return hmac.new(key, _KEY_ID, hashlib.sha256).hexdigest()[:16]


def _stamp(ts: datetime) -> str:
    # SQLite hands timestamps back without their zone: hash the UTC wall time, the same on every backend
    utc = ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts
    return utc.isoformat(timespec="microseconds")


def row_hash(prev_hash: str, ts: datetime, actor: str, action: str, target: str | None, details: str) -> str:
    """Format 1: a plain SHA-256 chain (anyone can recompute it)."""
    material = orjson.dumps([prev_hash, _stamp(ts), actor, action, target, details])
    return hashlib.sha256(material).hexdigest()


def row_mac(
    key: bytes, n: int, prev_hash: str, ts: datetime, actor: str, action: str, target: str | None, details: str
) -> str:
    """Format 2: the chain keyed by a secret that is not in the database."""
    material = orjson.dumps([ANCHORED, n, prev_hash, _stamp(ts), actor, action, target, details])
    return hmac.new(key, material, hashlib.sha256).hexdigest()


def keyless_hashes(
    n: int, prev_hash: str, ts: datetime, actor: str, action: str, target: str | None, details: str
) -> set[str]:
    """What someone without the key could have computed for a row: the plain formats."""
    plain = orjson.dumps([ANCHORED, n, prev_hash, _stamp(ts), actor, action, target, details])
    return {row_hash(prev_hash, ts, actor, action, target, details), hashlib.sha256(plain).hexdigest()}


def canonical(details: dict[str, Any] | None) -> str:
    try:
        return orjson.dumps(details or {}, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # what orjson cannot encode (integers past 64 bits, odd types): the standard encoder can
        return json.dumps(details or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The trail's head at one moment, signed: ``n`` rows, the last being ``seq`` with ``hash``."""

    n: int
    seq: int
    hash: str
    at: datetime
    key_id: str
    mac: str

    @staticmethod
    def sign(key: bytes, n: int, seq: int, head: str, at: datetime) -> Checkpoint:
        return Checkpoint(n, seq, head, at, key_id(key), _checkpoint_mac(key, n, seq, head, at))

    def valid(self, key: bytes) -> bool:
        return hmac.compare_digest(self.mac, _checkpoint_mac(key, self.n, self.seq, self.hash, self.at))

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds") if self.at.tzinfo else _stamp(self.at),
            "key_id": self.key_id,
            "mac": self.mac,
        }

    @staticmethod
    def from_json(data: Any) -> Checkpoint:
        """Raises ValueError on anything that is not a checkpoint as ``to_json`` writes it."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        try:
            n, seq, head, at, kid, mac = (data[k] for k in ("n", "seq", "hash", "at", "key_id", "mac"))
        except KeyError as exc:
            raise ValueError(f"missing {exc.args[0]!r}") from None
        if not (isinstance(n, int) and isinstance(seq, int) and all(isinstance(v, str) for v in (head, at, kid, mac))):
            raise ValueError("wrong field types")
        return Checkpoint(n, seq, head, datetime.fromisoformat(at), kid, mac)


def _checkpoint_mac(key: bytes, n: int, seq: int, head: str, at: datetime) -> str:
    material = orjson.dumps(["wardgate-audit-checkpoint", 1, n, seq, head, _stamp(at)])
    return hmac.new(key, material, hashlib.sha256).hexdigest()
