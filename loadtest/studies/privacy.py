"""The PII detectors measured: precision and recall on the labelled set, and time per prompt.

    python -m loadtest.studies.privacy [--doc docs/privacy.md] [--benchmarks docs/benchmarks.md]

**Accuracy** on `tests/privacy/data/labelled_snippets.jsonl` (English and Portuguese snippets,
each value labelled with its kind and offsets; the set's README says how it was built). A finding
is right when a labelled value of the same kind has the same offsets; per kind, precision is right
findings / findings and recall is right findings / labelled values. A finding of the right span
but another kind counts as wrong for both kinds. Also reported: the share of negative snippets
(no PII) with any finding at all, and the share of values found with overlapping but not exact
offsets.

**Time per request** of `detect` alone on a prompt, and of the privacy stage's work on a chat
request holding it (`redact_request`: every text of the body scanned and redacted, and the redacted
body encoded, as the stage does) for prompts of 1 KB, 10 KB and 100 KB. A prompt is English and
Portuguese prose (the sentences below) with the labelled set's snippets, positive and negative
alike, between them: a few PII values per KB among near misses (dates, prices, order numbers,
invalid check digits). p50 and p99 over many prompts, pooled over a few rounds run one after
another, each started once other work on the machine has fallen below `--max-other-load` cores (it
is shared, and its speed moves by about 30% between runs).

The accuracy and the times are written into `--doc` and the times, with the machine and the
issue's target (detection + redaction of a 1 KB prompt within 0.2 ms at p50 and 0.4 ms at p99,
every detector on), into `--benchmarks`,
each between its markers.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shlex
import statistics
import sys
import textwrap
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from loadtest.harness.doc_section import write_section
from loadtest.harness.machine import git_commit, machine_state
from router.privacy.detectors import KIND_ORDER, detect
from router.privacy.request_redaction import redact_request

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "tests" / "privacy" / "data" / "labelled_snippets.jsonl"
SECTION = "bench_privacy"
# Issue 14: detection + redaction of a 1 KB chat request, every detector on (issue 6 asked for
# 0.2 ms at p99 with the first nine kinds; issue 14 added the secrets and library checks).
TARGET_1KB_P50_MS = 0.2
TARGET_1KB_P99_MS = 0.4
SIZES_KB = (1, 10, 100)

# Chat-like prose without PII; a prompt is mostly these, with a labelled snippet every third piece.
PROSE = (
    "Could you summarise the attached meeting notes in five bullet points for the team?",
    "Please rewrite this paragraph so it sounds friendlier but keeps the same meaning.",
    "The deployment failed again last night, and the logs only say that the health check "
    "timed out after 30 seconds.",
    "I need a short reply to a customer who is unhappy that the parcel arrived two days late.",
    "Explain the difference between a process and a thread as if I were new to programming.",
    "Here is the draft of the quarterly update; tighten it and keep it under 200 words.",
    "Translate the following paragraph into Portuguese, keeping the technical terms in English.",
    "What are the main risks of moving the billing service to another region this quarter?",
    "Write a polite reminder that the invoice is due at the end of the month.",
    "Can you suggest three titles for a blog post about running language models at the edge?",
    "Pode resumir o relatório abaixo em poucas frases, destacando os pontos principais?",
    "Preciso de uma resposta educada para um cliente que reclamou do atraso na entrega.",
    "Reescreva este parágrafo de forma mais clara e objetiva, sem mudar o sentido.",
    "O sistema ficou fora do ar por cerca de 15 minutos ontem à tarde e ninguém sabe por quê.",
    "Quais são as vantagens e desvantagens de migrar o banco de dados para a nuvem?",
    "Explique o que é uma fila de mensagens e quando vale a pena usar uma.",
    "Traduza o texto a seguir para o inglês, mantendo o tom formal do original.",
    "Monte uma lista de perguntas para a entrevista de um desenvolvedor júnior.",
    "A reunião com o fornecedor foi adiada para a próxima semana, depois do feriado.",
    "Sugira um plano de estudos de oito semanas para aprender estatística básica.",
)
SNIPPET_SHARE = 1 / 3


def accuracy() -> list[str]:
    rows = _snippets()
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
            tally = negatives_flagged[row["lang"]]
            tally[0] += bool(findings)
            tally[1] += 1
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


def _snippets() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SNIPPETS.read_text(encoding="utf-8").splitlines()]


def prompts(
    rng: random.Random, snippets: list[dict[str, Any]], size: int, count: int
) -> tuple[list[str], float]:
    """`count` prompts of `size` characters, and how many labelled values they hold on average
    (a value cut by the prompt's end counts if it starts inside)."""
    made: list[str] = []
    values = 0
    for _ in range(count):
        pieces: list[str] = []
        length = 0
        while length < size:
            if rng.random() < SNIPPET_SHARE:
                snippet = rng.choice(snippets)
                values += sum(1 for p in snippet["pii"] if length + p["start"] < size)
                piece = snippet["text"]
            else:
                piece = rng.choice(PROSE)
            pieces.append(piece)
            length += len(piece) + 1
        made.append(" ".join(pieces)[:size])
    return made, values / count


@dataclass
class Series:
    """One prompt size: its prompts and the milliseconds per request measured on them."""

    size_kb: int
    texts: list[str]
    values_per_prompt: float
    detect_ms: list[float] = field(default_factory=list)
    redact_ms: list[float] = field(default_factory=list)  # the privacy stage's work per request
    round_p99_ms: list[float] = field(default_factory=list)  # of redact_ms, per round
    round_foreign_cores: list[float] = field(default_factory=list)  # other work, per round


def timing(args: argparse.Namespace) -> list[Series]:
    """Each prompt size's series, pooled over `args.rounds` rounds of the same prompts, each
    round of a size started on a quiet machine if one comes within `args.quiet_wait` s."""
    rng = random.Random(11)
    samples, rounds = args.samples, args.rounds
    snippets = _snippets()
    series = []
    for size_kb in SIZES_KB:
        texts, values = prompts(rng, snippets, size_kb * 1024, max(50, samples // size_kb))
        series.append(Series(size_kb, texts, values))
    for _ in range(rounds):
        for row in series:
            for text in row.texts[:5]:  # warm up
                redact_and_encode(chat_request(text))
            gc.collect()
            _wait_for_quiet(args.max_other_load, args.quiet_wait)
            foreign_before, started_round = _foreign_cpu_s(), time.perf_counter()
            redact_ms = []
            for text in row.texts:
                body = chat_request(text)
                started = time.perf_counter()
                detect(text)
                row.detect_ms.append((time.perf_counter() - started) * 1e3)
                started = time.perf_counter()
                redact_and_encode(body)
                redact_ms.append((time.perf_counter() - started) * 1e3)
            row.redact_ms.extend(redact_ms)
            row.round_p99_ms.append(_p99(redact_ms))
            foreign_s = max(0.0, _foreign_cpu_s() - foreign_before)  # clock ticks of 10 ms
            row.round_foreign_cores.append(foreign_s / (time.perf_counter() - started_round))
    return series


def chat_request(prompt: str) -> dict[str, Any]:
    """A chat request carrying the prompt: a fifth of it as the system prompt, the rest as the
    user's message, as decoded from its JSON body."""
    cut = prompt.find(" ", len(prompt) // 5)
    cut = len(prompt) // 5 if cut < 0 else cut
    return {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": prompt[:cut]},
            {"role": "user", "content": prompt[cut:]},
        ],
    }


def redact_and_encode(body: dict[str, Any]) -> None:
    """The privacy stage's work: find and replace the PII, and encode the body sent on."""
    found = redact_request(body)
    if found is not None:
        orjson.dumps(found.body)


def _foreign_cpu_s() -> float:
    """CPU seconds the machine's cores have been busy so far (/proc/stat), less this process's:
    other work, which slows the rounds it overlaps (the machine is shared)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy_s = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait
    own = resource.getrusage(resource.RUSAGE_SELF)
    return busy_s - own.ru_utime - own.ru_stime


def _wait_for_quiet(max_cores: float, wait_s: float) -> None:
    """Sample other work each second until it is at most `max_cores` or `wait_s` is spent."""
    deadline = time.monotonic() + wait_s
    while True:
        before = _foreign_cpu_s()
        time.sleep(1.0)
        cores = _foreign_cpu_s() - before
        if cores <= max_cores or time.monotonic() >= deadline:
            return
        print(f"[bench] waiting for a quiet machine: {cores:.2f} other cores", file=sys.stderr)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def timing_table(series: list[Series]) -> list[str]:
    lines = [
        "| prompt | PII values per prompt | detect p50 ms | detect p99 ms "
        "| detect + redact p50 ms | detect + redact p99 ms | p99 per round ms (other cores) |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in series:
        rounds = " / ".join(
            f"{p99:.3f} ({cores:.2f})"
            for p99, cores in zip(row.round_p99_ms, row.round_foreign_cores, strict=True)
        )
        lines.append(
            f"| {row.size_kb} KB | {row.values_per_prompt:.1f} "
            f"| {statistics.median(row.detect_ms):.3f} | {_p99(row.detect_ms):.3f} "
            f"| {statistics.median(row.redact_ms):.3f} | {_p99(row.redact_ms):.3f} | {rounds} |"
        )
    return lines


def benchmarks_section(
    series: list[Series], machine: dict[str, Any], started: datetime, args: argparse.Namespace
) -> list[str]:
    rounds = args.rounds
    one_kb = next(row for row in series if row.size_kb == 1)
    p50, p99 = statistics.median(one_kb.redact_ms), _p99(one_kb.redact_ms)
    rounds_met = sum(round_p99 <= TARGET_1KB_P99_MS for round_p99 in one_kb.round_p99_ms)
    command = shlex.join(["python", "-m", "loadtest.studies.privacy", *sys.argv[1:]])
    counts = ", ".join(f"{len(row.texts)} of {row.size_kb} KB" for row in series)
    paragraphs = [
        f"`{command}`, which wrote this section (and the same times, with the detectors' "
        f"precision and recall, into docs/privacy.md). Commit `{git_commit()}`, "
        f"{started.strftime('%Y-%m-%d %H:%M UTC')}; {machine['nproc']} cores "
        f"({machine['cpu_model']}), Python {machine['python']}, load average "
        f"{machine['load_average_before'][0]:.2f} before the run. In process, one request at "
        "a time, timed with `time.perf_counter`:",
        f"- **the prompts** ({counts}): English and Portuguese prose with the labelled set's "
        "snippets between the sentences (a third of the pieces, positive and negative alike), "
        "so a few PII values per KB among near misses: dates, prices, order numbers, invalid "
        "check digits;",
        "- **detect** is `router.privacy.detectors.detect(text)` on the prompt; **detect + "
        "redact** is the privacy stage's work on a chat request holding it (a fifth as the "
        "system prompt, the rest as the user's message): "
        "`router.privacy.request_redaction.redact_request(body)`, which scans every text of "
        "the body and replaces each value with its placeholder, and the redacted body encoded "
        "with orjson;",
        f"- p50 and p99 are pooled over {rounds} rounds of the same prompts, one after another. "
        "The machine is shared and its speed moves by about 30% between runs: each round of a "
        f"size waits for other work to fall to {args.max_other_load:g} cores at most (for "
        f"{args.quiet_wait:g} s at most), and the last column gives each round's p99 of "
        "detection and redaction with the cores other work used during it.",
    ]
    verdict = (
        f"**Target** (detection and redaction of a 1 KB prompt within {TARGET_1KB_P50_MS} ms at "
        f"p50 and {TARGET_1KB_P99_MS} ms at p99): p50 {p50:.3f} ms, p99 {p99:.3f} ms, p99 met in "
        f"{rounds_met} of {rounds} rounds: "
        f"**{'met' if p50 <= TARGET_1KB_P50_MS and p99 <= TARGET_1KB_P99_MS else 'not met'}**."
    )
    return [
        *(_wrapped(paragraph) for paragraph in paragraphs),
        "",
        *timing_table(series),
        "",
        _wrapped(verdict),
    ]


def _wrapped(paragraph: str) -> str:
    """At the docs' 100 columns, a list item's lines indented under its text."""
    indent = "  " if paragraph.startswith("- ") else ""
    return textwrap.fill(
        paragraph, 100, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doc", default=str(ROOT / "docs" / "privacy.md"))
    parser.add_argument("--benchmarks", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--samples", type=int, default=2000, help="1 KB prompts timed per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-other-load", type=float, default=0.2, help="cores")
    parser.add_argument("--quiet-wait", type=float, default=30.0, help="seconds, per round")
    args = parser.parse_args()
    machine, started = machine_state(), datetime.now(UTC)
    series = timing(args)
    report = "\n".join([*accuracy(), "", *timing_table(series)])
    section = "\n".join(benchmarks_section(series, machine, started, args))
    print(report, section, sep="\n\n")
    if args.doc:
        write_section(Path(args.doc), SECTION, report)
    if args.benchmarks:
        write_section(Path(args.benchmarks), SECTION, section)


if __name__ == "__main__":
    main()
