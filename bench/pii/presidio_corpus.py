"""PII corpus and Presidio's answers (issue 14, done-when 3, PII half), run in an environment with presidio-evaluator
and presidio-analyzer but no spaCy model:

    python -m venv /tmp/pe && /tmp/pe/bin/pip install --no-deps presidio-evaluator==0.3.2 && \
    /tmp/pe/bin/pip install faker pandas tqdm python-dotenv presidio-analyzer presidio-anonymizer
    /tmp/pe/bin/python bench/pii/presidio_corpus.py --n 5000 --out /tmp/pii_corpus.jsonl
    .venv/bin/python bench/pii/compare.py /tmp/pii_corpus.jsonl

Sentences come from presidio-evaluator's ``PresidioSentenceFaker`` (its templates and Faker providers, seeded); each
line holds the text, the gold spans and the spans found by Presidio's pattern recognizers (every predefined
recognizer that needs no NLP model, called with ``nlp_artifacts=None``, as the AnalyzerEngine does without spaCy).
"""

from __future__ import annotations

import argparse
import json


def offline_tldextract() -> None:
    """Presidio's email recognizer calls tldextract, which fetches the public suffix list on first use; here it
    uses the snapshot its wheel ships (nothing is downloaded)."""
    import tldextract.tldextract as tld

    tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None)


def recognizers() -> list[object]:
    from presidio_analyzer import EntityRecognizer
    from presidio_analyzer import predefined_recognizers as pr

    out = []
    for name in dir(pr):
        cls = getattr(pr, name)
        if not isinstance(cls, type) or not issubclass(cls, EntityRecognizer) or name.startswith("Spacy"):
            continue
        try:
            recognizer = cls()
            recognizer.analyze("warm up 123", recognizer.supported_entities, None)
        except Exception:  # noqa: BLE001 - a recognizer that needs a model or a service is left out
            continue
        out.append(recognizer)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    from presidio_evaluator.data_generator import PresidioSentenceFaker

    faker = PresidioSentenceFaker(locale="en_US", lower_case_ratio=0.05, random_seed=42)
    samples = faker.generate_new_fake_sentences(args.n)
    offline_tldextract()
    found = recognizers()
    print("presidio recognizers:", sorted(type(r).__name__ for r in found))
    with open(args.out, "w", encoding="utf-8") as f:
        for sample in samples:
            text = sample.full_text
            gold = [[s.entity_type, s.start_position, s.end_position] for s in sample.spans]
            predicted = []
            for recognizer in found:
                for r in recognizer.analyze(text, recognizer.supported_entities, None) or []:  # type: ignore[attr-defined]
                    predicted.append([r.entity_type, r.start, r.end, round(float(r.score), 3)])
            f.write(json.dumps({"text": text, "gold": gold, "presidio": predicted}) + "\n")
    print("sentences:", len(samples))


if __name__ == "__main__":
    main()
