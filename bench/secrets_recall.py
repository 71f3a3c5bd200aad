"""Secrets recall: the secrets guard against detect-secrets (PyPI, its default plugins) on generated keys of 14
kinds, each in a line of code (`KEY = "<value>"`) and in prose (`my key is <value> ok`). Needs `detect-secrets`
(`pip install -c constraints.txt detect-secrets`, pinned there); offline.

    .venv/bin/python bench/secrets_recall.py            # 50 keys per kind
"""

from __future__ import annotations

import argparse
import base64
import random
import string
import tempfile
from pathlib import Path

from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings

from wardgate.config.guards import GuardConfig
from wardgate.guards.engine import compile_guard
from wardgate.guards.scan import Scanner

A = string.ascii_letters + string.digits


def _r(rng: random.Random, n: int, alphabet: str = A) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _jwt(rng: random.Random) -> str:
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    header = part(b'{"alg":"HS256","typ":"JWT"}')
    body = part(f'{{"sub":"{_r(rng, 10)}","iat":{rng.randint(10**9, 2 * 10**9)}}}'.encode())
    return f"{header}.{body}.{part(rng.randbytes(32))}"


KINDS = {
    "aws_access_key": lambda r: "AKIA" + _r(r, 16, string.ascii_uppercase + "234567"),
    "github_token": lambda r: "ghp_" + _r(r, 36),
    "github_pat": lambda r: "github_pat_" + _r(r, 22) + "_" + _r(r, 59),
    "gitlab_token": lambda r: "glpat-" + _r(r, 20),
    "slack_token": lambda r: f"xoxb-{_r(r, 12, string.digits)}-{_r(r, 13, string.digits)}-{_r(r, 24)}",
    "stripe_key": lambda r: "sk_live_" + _r(r, 24),
    "openai_key": lambda r: "sk-proj-" + _r(r, 48) + "T3BlbkFJ" + _r(r, 48),
    "anthropic_key": lambda r: "sk-ant-api03-" + _r(r, 93, A + "-_") + "AA",
    "gcp_api_key": lambda r: "AIza" + _r(r, 35, A + "-_"),
    "sendgrid_key": lambda r: "SG." + _r(r, 22, A + "-_") + "." + _r(r, 43, A + "-_"),
    "twilio_key": lambda r: "SK" + _r(r, 32, "0123456789abcdef"),
    "npm_token": lambda r: "npm_" + _r(r, 36),
    "jwt": _jwt,
    "private_key": lambda r: (
        "-----BEGIN RSA PRIVATE KEY-----\\n" + _r(r, 64, A + "+/") + "\\n-----END RSA PRIVATE KEY-----"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(14)
    guard = Scanner([compile_guard(GuardConfig(name="s", type="secrets", action="redact"))])
    print("| kind | n | Wardgate recall | detect-secrets recall |\n|---|---|---|---|")
    totals = [0, 0, 0]
    scratch = Path(tempfile.mkdtemp(prefix="wg-secrets-"))

    def found_by_detect_secrets(line: str) -> bool:
        path = scratch / "case.py"  # its file scanner (the CLI's): plugins with their filters, as a repo scan
        path.write_text(line + "\n")
        collection = SecretsCollection()
        collection.scan_file(str(path))
        return bool(collection.data)

    with default_settings():
        for kind, make in KINDS.items():
            ours = theirs = n = 0
            for _ in range(args.n):
                value = make(rng)
                for line in (f'KEY = "{value}"', f"my key is {value} ok"):
                    n += 1
                    ours += any(line[h.finding.start : h.finding.end] in value for h in guard.hits(line))
                    theirs += found_by_detect_secrets(line)
            totals[0] += n
            totals[1] += ours
            totals[2] += theirs
            print(f"| {kind} | {n} | {ours / n:.3f} | {theirs / n:.3f} |")
    n, ours, theirs = totals
    print(f"| all | {n} | {ours / n:.3f} | {theirs / n:.3f} |")


if __name__ == "__main__":
    main()
