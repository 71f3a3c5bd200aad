"""``wardgate guards eval FILE.jsonl``: how well the configured guards (or the default ones) tell labelled texts
apart, for policy authors. Each line is ``{"text": "...", "label": ...}``: ``label`` is ``false``, ``"benign"`` or
``null`` for a text no guard should flag, else ``true`` or the category of the attack or entity (``"override"``,
``"email"`` …). Prints, per guard and category, TPR, FPR, precision and the latency per text; scopes are ignored
(every guard sees every text), and nothing is sent anywhere."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from wardgate.config.guards import GuardConfig

if TYPE_CHECKING:  # the guards are loaded only for this command
    from wardgate.guards.engine import Guard

DEFAULT_GUARDS = [
    GuardConfig(name="injection", type="injection"),
    GuardConfig(name="pii", type="pii"),
    GuardConfig(name="secrets", type="secrets"),
]
_NEGATIVE = (False, None, "benign", "negative", "0", 0)


def add_command(commands: Any) -> None:
    guards = commands.add_parser("guards", help="guards tools").add_subparsers(dest="guards_command", required=True)
    evaluate = guards.add_parser("eval", help="TPR, FPR, precision and latency of guards on a labelled JSONL file")
    evaluate.add_argument("file", help="JSON lines: {text, label}")
    evaluate.add_argument("--config", help="take the guards of this config file (default: injection, pii, secrets)")


def run(args: argparse.Namespace) -> int:
    try:
        guards = _guards(args.config)
        rows = _read(Path(args.file))
    except (OSError, ValueError) as exc:
        print(f"wardgate: {exc}", file=sys.stderr)
        return 2
    print(report(guards, rows))
    return 0


def _guards(config: str | None) -> tuple[Guard, ...]:
    from wardgate.guards.engine import compile_guards

    if config is None:
        return compile_guards(DEFAULT_GUARDS)
    from wardgate.config import load_config

    settings = load_config(Path(config))
    if not settings.guards:
        raise ValueError(f"{config}: no `guards:`")
    return compile_guards([g for g in settings.guards if g.type not in ("size", "cost", "tools")])


def _read(path: Path) -> list[tuple[str, str | None]]:
    rows: list[tuple[str, str | None]] = []
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ValueError(f"{path}:{number}: needs a string `text`")
        label = item.get("label")
        category = None if label in _NEGATIVE else ("positive" if label is True else str(label))
        rows.append((item["text"], category))
    return rows


def report(guards: tuple[Guard, ...], rows: list[tuple[str, str | None]]) -> str:
    lines = ["| guard | category | n | TPR | FPR | precision | p50 ms | p99 ms |", "|---|---|---|---|---|---|---|---|"]
    from wardgate.guards.scan import Scanner

    negatives = sum(1 for _, c in rows if c is None)
    for guard in guards:
        scanner = Scanner([guard])
        flagged: dict[str | None, int] = defaultdict(int)
        counts: dict[str | None, int] = defaultdict(int)
        times: list[float] = []
        for text, category in rows:
            started = time.perf_counter()
            hit = bool(scanner.hits(text))
            times.append((time.perf_counter() - started) * 1000)
            counts[category] += 1
            flagged[category] += hit
        fp = flagged[None]
        fpr = fp / negatives if negatives else 0.0
        p50 = statistics.median(times) if times else 0.0
        p99 = statistics.quantiles(times, n=100)[98] if len(times) >= 100 else max(times, default=0.0)
        categories = sorted(c for c in counts if c is not None)
        tp_all = sum(flagged[c] for c in categories)
        pos_all = sum(counts[c] for c in categories)
        for category in [*categories, "(all)"]:
            if category == "(all)":
                tp, n = tp_all, pos_all
            else:
                tp, n = flagged[category], counts[category]
            tpr = tp / n if n else 0.0
            precision = tp / (tp + fp) if tp + fp else 0.0
            lines.append(
                f"| {guard.name} | {category} | {n} | {tpr:.3f} | {fpr:.3f} | {precision:.3f} | {p50:.3f} | {p99:.3f} |"
            )
    return "\n".join(lines)
