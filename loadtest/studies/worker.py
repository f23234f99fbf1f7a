"""What the edge worker does on this machine: the figures of docs/benchmarks.md for issue 4.

    python -m loadtest.studies.worker [--store DIR] [--repeat 3]

Needs the models the worker serves, the generator (smollm2-135m-instruct/int4-kquant-mixed) and the
embedder (all-minilm-l6-v2/int8), in the model store: `--store`, else EDGE_WORKER_STORE, else the
default, which `make models` prepares; without them the run stops with one line saying so.

Starts `edge-worker serve` as its own process (as the router would) and measures its cold start
(process start to a first answered request), then, through its HTTP API with the official `openai`
client:
- the generator: time to first token and tokens/s of streams of 128 tokens (greedy, a short
  prompt), with 1, 2 and 4 streams at once (per stream and in aggregate);
- the embedder: latency of one sentence, and of batches of 8 and 32, over HTTP (p50, p90), and
  in this process as the router calls it (no HTTP);
- the worker's resident memory (RSS) after all of it.
Each point is repeated `--repeat` times; the report gives the median run. Prints Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from openai import AsyncOpenAI

from loadtest.harness.models import EMBEDDER_MODEL, generator_model, require_models

GENERATOR = "smollm2-135m-instruct"
EMBEDDER = "all-minilm-l6-v2"
# The build `edge-worker serve` serves by default.
SERVED_GENERATOR = generator_model("int4-kquant-mixed")
PROMPT = [{"role": "user", "content": "Tell me a story about a lighthouse keeper."}]
STREAM_TOKENS = 128


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _stream(client: AsyncOpenAI) -> tuple[float, int, float]:
    """Time to first token (s), tokens, and total time (s) of one stream."""
    started = time.perf_counter()
    first: float | None = None
    tokens = 0
    stream = await client.chat.completions.create(
        model=GENERATOR, messages=PROMPT, stream=True, max_tokens=STREAM_TOKENS, temperature=0
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            tokens += 1
            if first is None:
                first = time.perf_counter() - started
    total = time.perf_counter() - started
    return (first or total), tokens, total


async def _streams(client: AsyncOpenAI, concurrent: int, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        results = await asyncio.gather(*(_stream(client) for _ in range(concurrent)))
        wall = time.perf_counter() - started
        runs.append(
            {
                "ttft_ms": statistics.median(r[0] for r in results) * 1000,
                "per_stream": statistics.median(
                    (r[1] - 1) / (r[2] - r[0]) for r in results if r[2] > r[0]
                ),
                "aggregate": sum(r[1] for r in results) / wall,
            }
        )
    runs.sort(key=lambda run: run["aggregate"])
    return runs[len(runs) // 2]


async def _embeddings(client: AsyncOpenAI, batch: int, samples: int) -> tuple[float, float]:
    texts = [f"Sentence number {i} about routing requests at the edge." for i in range(batch)]
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        await client.embeddings.create(model=EMBEDDER, input=texts)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.9)]


def _in_process_embeddings(store: Path) -> None:
    """The embedder as the router uses it, in its own process: no HTTP, one thread."""
    from edge_worker.embedder import Embedder

    embedder = Embedder.open(store / EMBEDDER_MODEL.relative_dir)
    print("\n| embeddings per call, in process | p50 ms | p90 ms |")
    print("|---:|---:|---:|")
    for batch in (1, 8, 32):
        texts = [f"Sentence number {i} about routing requests at the edge." for i in range(batch)]
        embedder.embed(texts)
        times = []
        for _ in range(100 if batch == 1 else 30):
            started = time.perf_counter()
            embedder.embed(texts)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        print(f"| {batch} | {times[len(times) // 2]:.1f} | {times[int(len(times) * 0.9)]:.1f} |")


async def _wait_ready(client: AsyncOpenAI, process: asyncio.subprocess.Process) -> None:
    while True:
        assert process.returncode is None, "the worker exited at start"
        try:
            await client.chat.completions.create(
                model=GENERATOR, messages=[{"role": "user", "content": "hi"}], max_tokens=1
            )
            return
        except Exception:
            await asyncio.sleep(0.05)


async def _measure(store: Path, repeat: int) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "edge_worker.cli", "serve", "--port", str(port)]
    command += ["--store", str(store)]
    client = AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command, stderr=asyncio.subprocess.DEVNULL, env=dict(os.environ)
    )
    try:
        await _wait_ready(client, process)
        cold_start_s = time.perf_counter() - started
        await _streams(client, 1, 1)  # warm-up
        print(f"Cold start (process start to first answer): {cold_start_s:.2f} s\n")
        print("| streams at once | TTFT p50 ms | tokens/s per stream | tokens/s aggregate |")
        print("|---:|---:|---:|---:|")
        for concurrent in (1, 2, 4):
            run = await _streams(client, concurrent, repeat)
            print(
                f"| {concurrent} | {run['ttft_ms']:.0f} | {run['per_stream']:.0f} "
                f"| {run['aggregate']:.0f} |"
            )
        print("\n| embeddings per request | p50 ms | p90 ms |")
        print("|---:|---:|---:|")
        for batch in (1, 8, 32):
            p50, p90 = await _embeddings(client, batch, 50 if batch == 1 else 20)
            print(f"| {batch} | {p50:.1f} | {p90:.1f} |")
        print(f"\nWorker RSS after the runs: {_rss_mb(process.pid):.0f} MB")
        _in_process_embeddings(store)
    finally:
        process.terminate()
        await process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    store = require_models("bench_worker", args.store, [SERVED_GENERATOR, EMBEDDER_MODEL])
    asyncio.run(_measure(store, args.repeat))


if __name__ == "__main__":
    main()
