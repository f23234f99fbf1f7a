"""The PII detectors measured: precision and recall on the labelled set, and time per prompt.

    python -m loadtest.bench_privacy [--doc docs/privacy.md]

**Accuracy** on `tests/privacy/data/labelled_snippets.jsonl` (English and Portuguese snippets,
each value labelled with its kind and offsets; the set's README says how it was built). A finding
is right when a labelled value of the same kind has the same offsets; per kind, precision is right
findings / findings and recall is right findings / labelled values. A finding of the right span
but another kind counts as wrong for both kinds. Also reported: the share of negative snippets
(no PII) with any finding at all, and the share of values found with overlapping but not exact
offsets.

**Time** of `detect` and of a whole redaction (`Redactor.redact`) on prompts of 1 KB, 10 KB and
100 KB: chat-like English and Portuguese text with a PII value every ~300 characters, p50 and p99
over many prompts.

The report is printed and written into `--doc` between its markers.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path

from loadtest.doc_section import write_section
from router.privacy.detectors import KIND_ORDER, detect
from router.privacy.redaction import Redactor

ROOT = Path(__file__).resolve().parents[1]
SNIPPETS = ROOT / "tests" / "privacy" / "data" / "labelled_snippets.jsonl"

_TEXT = (
    "the customer asked about the order and wanted a refund before friday because the parcel "
    "never arrived o cliente pediu ajuda com o pedido e quer saber quando chega a entrega "
    "please check the account and reply with the status of ticket number 4821 obrigado"
)
_WORDS = tuple(_TEXT.split())
_VALUES = (
    "maria@example.com", "+55 21 98765-4321", "529.982.247-25", "4111 1111 1111 1111",
    "10.0.0.12", "DE89 3704 0044 0532 0130 00", "sk-proj-abcdefghijklmnopqrstuvwx1234",
)  # fmt: skip


def accuracy() -> list[str]:
    rows = [json.loads(line) for line in SNIPPETS.read_text(encoding="utf-8").splitlines()]
    right: Counter[str] = Counter()
    found: Counter[str] = Counter()
    labelled: Counter[str] = Counter()
    overlapping: Counter[str] = Counter()
    negatives_flagged: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        truth = {(p["kind"], p["start"], p["end"]) for p in row["pii"]}
        findings = {(f.kind, f.start, f.end) for f in detect(row["text"])}
        for kind, *_ in truth:
            labelled[kind] += 1
        for finding in findings:
            found[finding[0]] += 1
            right[finding[0]] += finding in truth
        for kind, start, end in truth - findings:
            if any(k == kind and s < end and start < e for k, s, e in findings):
                overlapping[kind] += 1
        if not truth:
            flagged = negatives_flagged[row["lang"]]
            flagged[0] += bool(findings)
            flagged[1] += 1
    positives = sum(1 for row in rows if row["pii"])
    lines = [
        f"{len(rows)} snippets ({positives} with PII, {len(rows) - positives} without), "
        f"{sum(labelled.values())} labelled values.",
        "",
        "| kind | labelled | found | right | precision | recall | found with other offsets |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in KIND_ORDER:
        precision = right[kind] / found[kind] if found[kind] else 1.0
        recall = right[kind] / labelled[kind] if labelled[kind] else 1.0
        lines.append(
            f"| {kind} | {labelled[kind]} | {found[kind]} | {right[kind]} | {precision:.3f} "
            f"| {recall:.3f} | {overlapping[kind]} |"
        )
    total_right, total_found = sum(right.values()), sum(found.values())
    lines.append(
        f"| **all** | {sum(labelled.values())} | {total_found} | {total_right} "
        f"| {total_right / max(1, total_found):.3f} "
        f"| {total_right / max(1, sum(labelled.values())):.3f} | {sum(overlapping.values())} |"
    )
    lines.append("")
    for lang, (flagged, count) in sorted(negatives_flagged.items()):
        lines.append(f"- negative snippets ({lang}) with any finding: {flagged} of {count}")
    return lines


def _prompt(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_VALUES) if rng.random() < 0.02 else rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def timing(samples: int) -> list[str]:
    rng = random.Random(11)
    lines = ["| prompt | detect p50 ms | detect p99 ms | redact p50 ms | redact p99 ms |",
             "|---:|---:|---:|---:|---:|"]  # fmt: skip
    for size in (1024, 10 * 1024, 100 * 1024):
        count = max(20, samples // (size // 1024))
        prompts = [_prompt(rng, size) for _ in range(count)]
        for prompt in prompts[:5]:
            detect(prompt)
        detect_ms, redact_ms = [], []
        for prompt in prompts:
            started = time.perf_counter()
            detect(prompt)
            detect_ms.append((time.perf_counter() - started) * 1e3)
            started = time.perf_counter()
            Redactor().redact(prompt)
            redact_ms.append((time.perf_counter() - started) * 1e3)
        lines.append(
            f"| {size // 1024} KB | {statistics.median(detect_ms):.3f} | {_p99(detect_ms):.3f} "
            f"| {statistics.median(redact_ms):.3f} | {_p99(redact_ms):.3f} |"
        )
    return lines


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doc", default=str(ROOT / "docs" / "privacy.md"))
    parser.add_argument("--samples", type=int, default=2000, help="1 KB prompts timed")
    args = parser.parse_args()
    report = "\n".join([*accuracy(), "", *timing(args.samples)])
    print(report)
    if args.doc:
        write_section(Path(args.doc), "bench_privacy", report)


if __name__ == "__main__":
    main()
