"""Conversations that stay put (issue 18): the same multi-turn conversations through the router
with `routing.affinity.enabled` off, then on, and what the providers' prompt caches make of each.

    python -m loadtest.studies.affinity [--conversations 200] [--turns 10] [--concurrency 20]
        [--out FILE.json] [--markdown FILE.md] [--doc docs/benchmarks.md] [--log-dir DIR]

For each arm, on free loopback ports: the simulated cloud (`loadtest.mock_cloud`, one process)
with three regions of similar latency (round trips of 10, 12 and 14 ms, a 300 ms time to first
token, the prompt cache on: `loadtest/mock_cloud/prompt_cache.py`), and a real router process
(`python -m router.cli serve`) in front of them, priced like gpt-4o (per million tokens: 2.50
input, 1.25 cached input, 10.00 output), its answer cache off. Every arm starts cold: a fresh
cloud and router.

The conversations are the same in both arms, made from data nobody wrote for this benchmark
(loadtest/datasets/): each has a system prompt of at least `--system-words` words of
PAWS-Wiki sentences (Wikipedia) and `--turns` user messages from GPTCache's question set. Each
turn sends the whole history (the system prompt, every question and every answer so far) as a
streamed chat request with `stream_options.include_usage`; `--concurrency` conversations are in
flight at once, each running its turns one after another.

Measured at the client, per arm: the cached share of all input tokens and the cost in USD, both
from the usage each answer reports and the prices above; the time to the first content chunk
(p50 and p99, all turns and later turns); the share of later turns served by another endpoint
than the turn before (`x-router-endpoint`); errors. Also the router's own `router_spend_usd_total`
and what the regions counted (`/control/regions/{name}/stats`), as cross-checks. A 200 × 10 run
takes about two and a half minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import math
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
import yaml

from loadtest.generator.stats import percentile
from loadtest.harness.doc_section import write_section
from loadtest.harness.machine import git_commit, machine_state
from loadtest.harness.processes import Processes, run_interruptibly, wait_ready
from loadtest.harness.proxy_settings import LOOPBACK
from loadtest.studies.cache_stack import free_ports
from loadtest.studies.datasets import GPTCACHE_PARAPHRASES, PAWS_WIKI_TEST

MODEL: Final = "gpt-4o"
API_KEY: Final = "sk-bench-affinity"
# The three regions: name and median round trip. Similar enough that the router balances.
REGIONS: Final = (("region-a", 10.0), ("region-b", 12.0), ("region-c", 14.0))
TTFT_MS: Final = 300.0


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens (gpt-4o's list prices)."""

    input: float = 2.50
    cached_input: float = 1.25
    output: float = 10.00


@dataclass(frozen=True, slots=True)
class Conversation:
    system: str
    questions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn as the client saw it; `error` is None when it was answered in full."""

    conversation: int
    turn: int  # 0 for the first
    endpoint: str
    ttft_s: float | None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


# --- the conversations ---------------------------------------------------------------------------


def paws_sentences(path: Path = PAWS_WIKI_TEST) -> list[str]:
    """PAWS-Wiki's first sentences, each once, in file order."""
    with path.open(newline="", encoding="utf-8") as file:
        rows = csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        return list(dict.fromkeys(row["sentence1"].strip() for row in rows if row["sentence1"]))


def gptcache_questions(path: Path = GPTCACHE_PARAPHRASES) -> list[str]:
    """GPTCache's sentences, each pair's original and its paraphrase, each once."""
    pairs = json.loads(path.read_text(encoding="utf-8"))
    texts = (text.strip() for pair in pairs for text in (pair["origin"], pair["similar"]))
    return list(dict.fromkeys(text for text in texts if text))


def build_conversations(
    count: int,
    turns: int,
    system_words: int,
    sentences: Sequence[str],
    questions: Sequence[str],
    seed: int = 0,
) -> list[Conversation]:
    """`count` conversations of `turns` questions. A system prompt is a run of consecutive
    sentences of a seeded shuffle, just long enough to reach `system_words` words, starting where
    the last one ended (wrapping round; one sentence later when that run was taken already, so
    no two conversations share a system prompt). Questions are dealt in order from a seeded
    shuffle, wrapping round."""
    if not sentences or not questions or count < 1 or turns < 1:
        raise ValueError("conversations need sentences, questions, and at least one turn")
    rng = random.Random(seed)
    pool = list(sentences)
    rng.shuffle(pool)
    asked = list(questions)
    rng.shuffle(asked)
    conversations: list[Conversation] = []
    taken: set[str] = set()
    at = 0
    for i in range(count):
        for start in range(at, at + len(pool)):
            system, at = _system_prompt(pool, start, system_words)
            if system not in taken:
                break
        else:
            raise ValueError(f"the sentences hold fewer than {count} distinct system prompts")
        taken.add(system)
        dealt = tuple(asked[(i * turns + t) % len(asked)] for t in range(turns))
        conversations.append(Conversation(system, dealt))
    return conversations


def _system_prompt(pool: Sequence[str], start: int, words: int) -> tuple[str, int]:
    """The sentences from `start` (wrapping round) until `words` words, and where they ended."""
    run: list[str] = []
    count = 0
    at = start
    while count < words:
        if len(run) == len(pool):
            raise ValueError(f"the sentences hold fewer than {words} words")
        run.append(pool[at % len(pool)])
        count += len(run[-1].split())
        at += 1
    return " ".join(run), at


def turn_messages(conversation: Conversation, answers: Sequence[str]) -> list[dict[str, str]]:
    """The messages of turn `len(answers)`: the system prompt, then each earlier question with
    its answer, then this turn's question."""
    messages = [{"role": "system", "content": conversation.system}]
    for question, answer in zip(conversation.questions, answers, strict=False):
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": conversation.questions[len(answers)]})
    return messages


# --- the statistics ------------------------------------------------------------------------------


def read_chunk(data: bytes) -> tuple[str, dict[str, Any] | None, str | None]:
    """A chat stream's `data:` payload: its content, its usage (the last chunk's) and the
    message of an in-band error."""
    chunk = orjson.loads(data)
    if "error" in chunk:
        error = chunk["error"]
        return "", None, str(error.get("message") if isinstance(error, dict) else error)
    choices = chunk.get("choices")
    delta = (choices[0].get("delta") or {}) if choices else {}
    return delta.get("content") or "", chunk.get("usage"), None


def turn_cost_usd(turn: Turn, prices: Prices) -> float:
    uncached = turn.prompt_tokens - turn.cached_tokens
    return (
        uncached * prices.input
        + turn.cached_tokens * prices.cached_input
        + turn.completion_tokens * prices.output
    ) / 1e6


def region_changes(turns: Iterable[Turn]) -> tuple[int, int]:
    """Of the later turns answered after an answered turn of the same conversation, how many an
    endpoint other than that turn's served, and how many there were."""
    by_conversation: dict[int, list[Turn]] = {}
    for turn in turns:
        if turn.error is None:
            by_conversation.setdefault(turn.conversation, []).append(turn)
    changed = compared = 0
    for answered in by_conversation.values():
        answered.sort(key=lambda t: t.turn)
        for before, after in itertools.pairwise(answered):
            compared += 1
            changed += after.endpoint != before.endpoint
    return changed, compared


def summarize(turns: Sequence[Turn], prices: Prices) -> dict[str, Any]:
    answered = [t for t in turns if t.error is None]
    prompt = sum(t.prompt_tokens for t in answered)
    cached = sum(t.cached_tokens for t in answered)
    ttfts = sorted(t.ttft_s for t in answered if t.ttft_s is not None)
    later = sorted(t.ttft_s for t in answered if t.ttft_s is not None and t.turn > 0)
    changed, compared = region_changes(turns)
    first_turns = Counter(t.endpoint for t in answered if t.turn == 0)
    return {
        "turns": len(turns),
        "answered": len(answered),
        "errors": dict(Counter(t.error for t in turns if t.error is not None)),
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "completion_tokens": sum(t.completion_tokens for t in answered),
        "cached_share": cached / prompt if prompt else 0.0,
        "cost_usd": math.fsum(turn_cost_usd(t, prices) for t in answered),
        "ttft_p50_ms": _percentile_ms(ttfts, 50.0),
        "ttft_p99_ms": _percentile_ms(ttfts, 99.0),
        "later_ttft_p50_ms": _percentile_ms(later, 50.0),
        "later_ttft_p99_ms": _percentile_ms(later, 99.0),
        "region_changes": changed,
        "later_turns_compared": compared,
        "changed_share": changed / compared if compared else 0.0,
        "first_turns_by_endpoint": dict(sorted(first_turns.items())),
    }


def _percentile_ms(sorted_s: Sequence[float], q: float) -> float | None:
    return percentile(sorted_s, q) * 1000.0 if sorted_s else None


def spend_from_metrics(text: str) -> float:
    """The sum of `router_spend_usd_total` over its series, from Prometheus' text format."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("router_spend_usd_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


# --- the stack -----------------------------------------------------------------------------------


def mock_config(
    region_ports: Sequence[int], control_port: int, tokens_per_s: float
) -> dict[str, Any]:
    regions = [
        {
            "name": name,
            "host": LOOPBACK,
            "port": port,
            "rtt_ms": rtt_ms,
            "rtt_jitter": 0.1,
            "ttft_ms": TTFT_MS,
            "tokens_per_s": tokens_per_s,
            "models": [MODEL],
            "prompt_cache": True,
        }
        for (name, rtt_ms), port in zip(REGIONS, region_ports, strict=True)
    ]
    return {
        "control": {"host": LOOPBACK, "port": control_port},
        "record_limit": 0,
        "regions": regions,
    }


def node_config(
    port: int, region_ports: Sequence[int], affinity: bool, prices: Prices
) -> dict[str, Any]:
    """The router: one endpoint per region, priced alike, each fit for PII (a node key's PII
    goes only to endpoints tagged `pii`, and a Wikipedia sentence may look like some); no
    answer cache, no access log."""
    model = {
        "name": MODEL,
        "input_price_per_mtok": prices.input,
        "cached_input_price_per_mtok": prices.cached_input,
        "output_price_per_mtok": prices.output,
    }
    endpoints = [
        {
            "name": name,
            "base_url": f"http://{LOOPBACK}:{region_port}/v1",
            "region": name,
            "tags": ["pii"],
            "models": [model],
        }
        for (name, _), region_port in zip(REGIONS, region_ports, strict=True)
    ]
    return {
        "server": {"host": LOOPBACK, "port": port, "access_log": False, "drain_timeout_s": 2.0},
        "auth": {"api_keys": [API_KEY]},
        "cache": {"enabled": False, "semantic": False},
        "routing": {"affinity": {"enabled": affinity}},
        "endpoints": endpoints,
    }


async def converse(
    http: aiohttp.ClientSession,
    url: str,
    index: int,
    conversation: Conversation,
    max_tokens: int,
) -> list[Turn]:
    """Every turn of one conversation in order; it ends at its first failed turn, since the
    next would lack that turn's answer."""
    answers: list[str] = []
    turns = []
    for number in range(len(conversation.questions)):
        body = {
            "model": MODEL,
            "messages": turn_messages(conversation, answers),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_tokens,
        }
        turn, answer = await _ask(http, url, index, number, body)
        turns.append(turn)
        if turn.error is not None:
            break
        answers.append(answer)
    return turns


async def _ask(
    http: aiohttp.ClientSession, url: str, index: int, number: int, body: dict[str, Any]
) -> tuple[Turn, str]:
    started = time.perf_counter()
    first: float | None = None
    pieces: list[str] = []
    usage: dict[str, Any] | None = None
    endpoint = ""
    try:
        async with http.post(f"{url}/v1/chat/completions", data=orjson.dumps(body)) as response:
            endpoint = response.headers.get("x-router-endpoint", "")
            if response.status != 200:
                await response.read()
                return Turn(index, number, endpoint, None, error=f"HTTP {response.status}"), ""
            async for line in response.content:
                if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                    continue
                content, chunk_usage, error = read_chunk(line[6:])
                if error is not None:
                    return Turn(index, number, endpoint, None, error="in-band error"), ""
                if content and first is None:
                    first = time.perf_counter()
                pieces.append(content)
                usage = chunk_usage or usage
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Turn(index, number, endpoint, None, error=type(exc).__name__), ""
    if usage is None or first is None:
        return Turn(index, number, endpoint, None, error="no usage or no content"), ""
    details = usage.get("prompt_tokens_details") or {}
    turn = Turn(
        index,
        number,
        endpoint,
        first - started,
        prompt_tokens=usage["prompt_tokens"],
        cached_tokens=details.get("cached_tokens", 0),
        completion_tokens=usage["completion_tokens"],
    )
    return turn, "".join(pieces)


async def _measure(
    url: str, control: str, conversations: Sequence[Conversation], args: argparse.Namespace
) -> dict[str, Any]:
    """Every conversation through the router at `url`, `args.concurrency` at once; then what the
    router and the regions (at `control`) counted."""
    queue = list(enumerate(conversations))[::-1]
    turns: list[Turn] = []
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=120.0)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector) as http:

        async def worker() -> None:
            while queue:
                index, conversation = queue.pop()
                turns.extend(await converse(http, url, index, conversation, args.max_tokens))

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        seconds = time.monotonic() - started
        regions = {}
        for region, _ in REGIONS:
            async with http.get(f"{control}/control/regions/{region}/stats") as response:
                stats = await response.json()
            regions[region] = {
                "chat_requests": stats["by_path"].get("/v1/chat/completions", 0),
                "prompt_cache_hits": stats["prompt_cache_hits"],
                "prompt_cache_cached_tokens": stats["prompt_cache_cached_tokens"],
            }
        async with http.get(f"{url}/metrics") as response:
            spend = spend_from_metrics(await response.text())
    return summarize(turns, args.prices) | {
        "seconds": seconds,
        "router_spend_usd": spend,
        "regions": regions,
        "turn_records": [asdict(t) for t in turns] if args.keep_turns else None,
    }


def run_arm(
    args: argparse.Namespace, conversations: Sequence[Conversation], affinity: bool, work: Path
) -> dict[str, Any]:
    """One arm on a fresh cloud and router: the client's figures and the cross-checks."""
    name = "on" if affinity else "off"
    router_port, control_port, *region_ports = free_ports(len(REGIONS) + 2)
    cloud_yaml, node_yaml = work / f"cloud-{name}.yaml", work / f"node-{name}.yaml"
    cloud_yaml.write_text(
        yaml.safe_dump(mock_config(region_ports, control_port, args.tokens_per_s))
    )
    node_yaml.write_text(
        yaml.safe_dump(node_config(router_port, region_ports, affinity, args.prices))
    )
    control, url = f"http://{LOOPBACK}:{control_port}", f"http://{LOOPBACK}:{router_port}"
    processes = Processes(work)
    started = [
        (
            f"cloud-{name}",
            ["loadtest.mock_cloud", "--config", str(cloud_yaml)],
            f"{control}/control/regions",
        ),
        (
            f"router-{name}",
            ["router.cli", "serve", "--workers", "1", "--config", str(node_yaml)],
            f"{url}/healthz",
        ),
    ]
    try:
        for process, module_args, ready_url in started:
            proc = processes.start(process, [sys.executable, "-m", *module_args], None)
            wait_ready(processes, process, proc, ready_url, 60.0)
        measured = asyncio.run(_measure(url, control, conversations, args))
        processes.check_alive()
    finally:
        processes.stop_all()
    return {"affinity": affinity} | measured


# --- the report ----------------------------------------------------------------------------------


def markdown(report: Mapping[str, Any]) -> str:
    """The two arms side by side, after a line saying how the run was made."""
    settings = report["settings"]
    head = (
        f"`{report['command']}`, {report['date']}, commit {report['commit']}, "
        f"{report['machine']['nproc']} cores ({report['machine']['cpu_model']}), load before "
        f"{report['machine']['load_average_before'][0]:.2f}. "
        f"{settings['conversations']} conversations × {settings['turns']} turns, "
        f"{settings['concurrency']} at once; system prompts of at least "
        f"{settings['system_words']} words; answers of {settings['max_tokens']} tokens at "
        f"{settings['tokens_per_s']:g} tokens/s."
    )
    lines = [head, "", "| | affinity off | affinity on |", "| --- | ---: | ---: |"]
    off, on = report["arms"]["off"], report["arms"]["on"]
    lines += [f"| {label} | {cell(off)} | {cell(on)} |" for label, cell in _ROWS]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _ttft(arm: Mapping[str, Any], prefix: str = "") -> str:
    return f"{_ms(arm[f'{prefix}ttft_p50_ms'])} / {_ms(arm[f'{prefix}ttft_p99_ms'])}"


def _region_cached_tokens(arm: Mapping[str, Any]) -> str:
    return f"{sum(s['prompt_cache_cached_tokens'] for s in arm['regions'].values()):,}"


def _region_requests(arm: Mapping[str, Any]) -> str:
    return _per_region({r: s["chat_requests"] for r, s in arm["regions"].items()})


_ROWS: Final[tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...]] = (
    ("turns answered / errors", lambda a: f"{a['answered']} / {_errors(a)}"),
    ("input tokens", lambda a: f"{a['prompt_tokens']:,}"),
    ("of which cached", lambda a: f"{a['cached_tokens']:,}"),
    ("**cached share of input tokens**", lambda a: f"**{a['cached_share']:.1%}**"),
    ("**cost, USD** (from the answers' usage)", lambda a: f"**{a['cost_usd']:.4f}**"),
    ("cost, USD (the router's `router_spend_usd_total`)", lambda a: f"{a['router_spend_usd']:.4f}"),
    ("**TTFT p50 / p99, ms** (all turns)", lambda a: f"**{_ttft(a)}**"),
    ("TTFT p50 / p99, ms (turns 2 on)", lambda a: _ttft(a, "later_")),
    (
        "**later turns that changed region**",
        lambda a: (
            f"**{a['changed_share']:.1%}** ({a['region_changes']} of {a['later_turns_compared']})"
        ),
    ),
    ("first turns per region (a / b / c)", lambda a: _per_region(a["first_turns_by_endpoint"])),
    ("chat requests per region (the regions' count)", _region_requests),
    ("cached tokens (the regions' count)", _region_cached_tokens),
    ("wall time, s", lambda a: f"{a['seconds']:.0f}"),
)


def _errors(arm: Mapping[str, Any]) -> str:
    errors = arm["errors"]
    if not errors:
        return "0"
    return f"{sum(errors.values())} (" + ", ".join(f"{k}: {n}" for k, n in errors.items()) + ")"


def _per_region(counts: Mapping[str, int]) -> str:
    return " / ".join(str(counts.get(name, 0)) for name, _ in REGIONS)


_SETTINGS: Final = (
    "conversations",
    "turns",
    "concurrency",
    "system_words",
    "max_tokens",
    "tokens_per_s",
    "seed",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=20, help="conversations at once")
    parser.add_argument("--system-words", type=int, default=1500)
    parser.add_argument("--max-tokens", type=int, default=50, help="tokens per answer")
    parser.add_argument("--tokens-per-s", type=float, default=100.0, help="the regions' speed")
    parser.add_argument("--seed", type=int, default=0, help="of the conversations' draw")
    parser.add_argument("--out", type=Path, help="write the report as JSON")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown")
    parser.add_argument("--doc", type=Path, help="write the table into this docs page")
    parser.add_argument("--log-dir", type=Path, help="keep configs and logs here")
    parser.add_argument("--keep-turns", action="store_true", help="every turn in the JSON")
    args = parser.parse_args(argv)
    args.prices = Prices()
    command = "python -m loadtest.studies.affinity " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    conversations = build_conversations(
        args.conversations,
        args.turns,
        args.system_words,
        paws_sentences(),
        gptcache_questions(),
        args.seed,
    )

    def run() -> dict[str, Any]:
        date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        machine = machine_state()
        with tempfile.TemporaryDirectory(prefix="bench-affinity-") as directory:
            work = args.log_dir or Path(directory)
            work.mkdir(parents=True, exist_ok=True)
            arms = {
                "off": run_arm(args, conversations, False, work),
                "on": run_arm(args, conversations, True, work),
            }
        settings = {key: getattr(args, key) for key in _SETTINGS}
        settings["prices_per_mtok"] = asdict(args.prices)
        return {
            "command": command.strip(),
            "date": date,
            "commit": git_commit(),
            "machine": machine,
            "settings": settings,
            "arms": arms,
        }

    report = run_interruptibly(run)
    if report is None:
        return 130
    table = markdown(report)
    print(table)
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    if args.markdown is not None:
        args.markdown.write_text(table + "\n")
    if args.doc is not None:
        write_section(args.doc, "bench_affinity", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
