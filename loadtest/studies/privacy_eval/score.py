"""Scores a detector on a part of the evaluation set and prints markdown tables.

    python -m loadtest.studies.privacy_eval.score [--part test] \\
        [--detector router|presidio|detect-secrets]

What counts (README):
- **caught**: the whole gold value lies inside the union of the detector's findings, of any kind.
  This is what matters for a leak: a redacted span of the wrong kind still hides the value.
- **kind-correct**: the whole gold value lies inside findings whose kind maps to the gold kind
  (`KIND_MAPS`; the router's `secret` maps to every secret gold kind).
- **precision**: a finding is right when it overlaps a gold span; a finding on a negative snippet,
  or on a positive snippet away from every gold span, is a false positive. Reported per kind the
  detector gave, per language, and overall.
- **negatives**: per `negative_kind`, how many snippets got a finding and how many findings.

The router's detector needs only the main environment; the references import their packages
when chosen (`.venv-eval`, `make eval-env`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
PII_KINDS = ("email", "phone", "card", "iban", "cpf", "cnpj", "ssn", "ip")
LANGS = ("en", "pt")
ANY_SECRET = "*secret"  # stands for every gold kind that is not in PII_KINDS

# Detector kind -> gold kinds it may rightly report.
KIND_MAPS: dict[str, dict[str, frozenset[str]]] = {
    "router": {
        **{kind: frozenset({kind}) for kind in PII_KINDS},
        "secret": frozenset({ANY_SECRET}),
    },
    "presidio": {
        "EMAIL_ADDRESS": frozenset({"email"}),
        "PHONE_NUMBER": frozenset({"phone"}),
        "CREDIT_CARD": frozenset({"card"}),
        "IBAN_CODE": frozenset({"iban"}),
        "US_SSN": frozenset({"ssn"}),
        "IP_ADDRESS": frozenset({"ip"}),
    },
    "detect-secrets": {},  # filled per plugin: every plugin maps to every secret kind
}

Finding = tuple[str, int, int]  # (detector kind, start, end)
Detector = Callable[[str], list[Finding]]


def maps_to(detector: str, finding_kind: str, gold_kind: str) -> bool:
    targets = KIND_MAPS[detector].get(
        finding_kind, frozenset({ANY_SECRET} if detector == "detect-secrets" else ())
    )
    return gold_kind in targets or (ANY_SECRET in targets and gold_kind not in PII_KINDS)


def covered(start: int, end: int, intervals: Iterable[tuple[int, int]]) -> bool:
    """Whether [start, end) lies inside the union of the intervals."""
    reach = start
    for begin, stop in sorted(intervals):
        if begin > reach:
            break
        reach = max(reach, stop)
        if reach >= end:
            return True
    return reach >= end


def overlaps(start: int, end: int, other_start: int, other_end: int) -> bool:
    return start < other_end and other_start < end


@dataclass
class Tally:
    """Counts over a part, filled snippet by snippet."""

    detector: str
    values: Counter[tuple[str, str]] = field(default_factory=Counter)
    caught: Counter[tuple[str, str]] = field(default_factory=Counter)
    kind_correct: Counter[tuple[str, str]] = field(default_factory=Counter)
    findings: Counter[tuple[str, str]] = field(default_factory=Counter)
    findings_right: Counter[tuple[str, str]] = field(default_factory=Counter)
    negatives: Counter[str] = field(default_factory=Counter)
    negatives_flagged: Counter[str] = field(default_factory=Counter)
    negative_findings: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    missed_examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, snippet: dict[str, Any], found: list[Finding]) -> None:
        lang = snippet["lang"]
        for span in snippet["spans"]:
            key = (span["kind"], lang)
            self.values[key] += 1
            if covered(span["start"], span["end"], ((s, e) for _, s, e in found)):
                self.caught[key] += 1
            else:
                self.missed_examples[span["kind"]].append(snippet["id"])
            right_kind = ((s, e) for k, s, e in found if maps_to(self.detector, k, span["kind"]))
            if covered(span["start"], span["end"], right_kind):
                self.kind_correct[key] += 1
        for kind, start, end in found:
            self.findings[(kind, lang)] += 1
            if any(overlaps(start, end, span["start"], span["end"]) for span in snippet["spans"]):
                self.findings_right[(kind, lang)] += 1
        if "negative_kind" in snippet:
            negative_kind = snippet["negative_kind"]
            self.negatives[negative_kind] += 1
            if found:
                self.negatives_flagged[negative_kind] += 1
                self.negative_findings[negative_kind].update(kind for kind, _, _ in found)


def score(snippets: Iterable[dict[str, Any]], detector_name: str, detect: Detector) -> Tally:
    tally = Tally(detector_name)
    for snippet in snippets:
        tally.add(snippet, detect(snippet["text"]))
    return tally


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "–"


def _gold_kinds(tally: Tally) -> list[str]:
    kinds = {kind for kind, _ in tally.values}
    return [k for k in PII_KINDS if k in kinds] + sorted(kinds - set(PII_KINDS))


def recall_table(tally: Tally) -> list[str]:
    lines = [
        "| gold kind | values en / pt | caught en | caught pt "
        "| kind-correct en | kind-correct pt |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    groups = [(kind, {kind}) for kind in _gold_kinds(tally)]
    secrets = {k for k in _gold_kinds(tally) if k not in PII_KINDS}
    groups += [
        ("**all secret kinds**", secrets),
        ("**all PII kinds**", set(PII_KINDS)),
        ("**all**", secrets | set(PII_KINDS)),
    ]
    for name, kinds in groups:
        row = [name]
        total = {lang: sum(tally.values[(k, lang)] for k in kinds) for lang in LANGS}
        row.append(f"{total['en']} / {total['pt']}")
        for counter in (tally.caught, tally.kind_correct):
            for lang in LANGS:
                row.append(_ratio(sum(counter[(k, lang)] for k in kinds), total[lang]))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def precision_table(tally: Tally) -> list[str]:
    lines = [
        "| detector kind | findings en / pt | precision en | precision pt | precision |",
        "|---|---:|---:|---:|---:|",
    ]
    kinds = sorted({kind for kind, _ in tally.findings})
    for kind in [*kinds, None]:
        pick = (lambda k: True) if kind is None else (lambda k, kind=kind: k == kind)  # type: ignore[misc]
        found = {
            lang: sum(
                n for (k, in_lang), n in tally.findings.items() if in_lang == lang and pick(k)
            )
            for lang in LANGS
        }
        right = {
            lang: sum(
                n for (k, in_lang), n in tally.findings_right.items() if in_lang == lang and pick(k)
            )
            for lang in LANGS
        }
        name = "**all**" if kind is None else kind
        overall = _ratio(sum(right.values()), sum(found.values()))
        lines.append(
            f"| {name} | {found['en']} / {found['pt']} | {_ratio(right['en'], found['en'])} | "
            f"{_ratio(right['pt'], found['pt'])} | {overall} |"
        )
    return lines


def negatives_table(tally: Tally) -> list[str]:
    lines = ["| negative kind | snippets | flagged | findings (by kind) |", "|---|---:|---:|---|"]
    for negative_kind in sorted(tally.negatives):
        by_kind = ", ".join(
            f"{k} {n}" for k, n in tally.negative_findings[negative_kind].most_common()
        )
        snippets, flagged = tally.negatives[negative_kind], tally.negatives_flagged[negative_kind]
        lines.append(f"| {negative_kind} | {snippets} | {flagged} | {by_kind or '–'} |")
    total, flagged = sum(tally.negatives.values()), sum(tally.negatives_flagged.values())
    lines.append(f"| **all** | {total} | {flagged} | |")
    return lines


def report(tally: Tally, part: str, seconds: float) -> str:
    found, right = sum(tally.findings.values()), sum(tally.findings_right.values())
    caught, values = sum(tally.caught.values()), sum(tally.values.values())
    head = (
        f"**{tally.detector}** on `{part}.jsonl`: {values} gold values, caught {caught} "
        f"(recall {_ratio(caught, values)}); {found} findings, {right} on a gold span "
        f"(precision {_ratio(right, found)}); {seconds:.1f} s."
    )
    return "\n".join(
        [
            head,
            "",
            *recall_table(tally),
            "",
            *precision_table(tally),
            "",
            *negatives_table(tally),
            "",
        ]
    )


def router_detector() -> Detector:
    from router.privacy.detectors import detect

    return lambda text: [(f.kind, f.start, f.end) for f in detect(text)]


def load_detector(name: str) -> Detector:
    if name == "router":
        return router_detector()
    if name == "presidio":
        from loadtest.studies.privacy_eval.reference_presidio import presidio_detector

        return presidio_detector(list(KIND_MAPS["presidio"]))
    from loadtest.studies.privacy_eval.reference_detect_secrets import detect_secrets_detector

    return detect_secrets_detector()


def read_part(data_dir: Path, part: str) -> list[dict[str, Any]]:
    with (data_dir / f"{part}.jsonl").open(encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=("test", "tune"), default="test")
    parser.add_argument(
        "--detector", choices=("router", "presidio", "detect-secrets"), default="router"
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument(
        "--missed", type=int, default=0, help="print up to N missed snippet ids per kind"
    )
    args = parser.parse_args(argv)
    snippets = read_part(args.data_dir, args.part)
    detect = load_detector(args.detector)
    started = time.perf_counter()
    tally = score(snippets, args.detector, detect)
    sys.stdout.write(report(tally, args.part, time.perf_counter() - started))
    for kind, ids in sorted(tally.missed_examples.items()):
        if args.missed:
            print(f"missed {kind}: {' '.join(ids[: args.missed])}")


if __name__ == "__main__":
    main()
