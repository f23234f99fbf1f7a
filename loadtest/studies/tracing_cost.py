"""What tracing every request costs the router's process, per request, in one process: the spans
of a request as the router makes them (the request's span with its attributes, one attempt's
span with its attributes and `traceparent`), exported to a loopback OTLP sink in another process.

Three ways, alternated in rounds so the machine's noise falls on all alike:
- `off`: the same calls with tracing off (`exporter: none`), the baseline;
- `pipe`: the router's tracing (`router.telemetry.spans`, exported by the exporter process);
- `sdk`: what the router did before, the OpenTelemetry SDK's spans with a `BatchSpanProcessor`
  and the OTLP exporter in this process.

CPU is this process's (all its threads); the exporter process's CPU is reported beside it.
This process runs on `--cpu`, the exporter process and the sink on `--other-cpu`.

    python -m loadtest.studies.tracing_cost --requests 50000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

from router.config.model import TracingSettings
from router.telemetry.spans import traceparent_of
from router.telemetry.tracing import Tracing, build_tracing

REQUEST_ATTRIBUTES: dict[str, str | int | float | bool] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o-mini",
    "http.request.method": "POST",
    "router.tenant": "shop",
    "http.response.status_code": 200,
    "router.served_by": "cloud",
    "router.endpoint": "us-east",
    "router.region": "us-east",
    "router.reason": "lowest score: rtt 12.0 ms, ttft 180.0 ms",
    "router.attempts": 1,
    "router.stream": False,
    "router.cache": "miss",
    "router.limits": "admitted",
    "gen_ai.response.model": "gpt-4o-mini",
    "router.ttft_ms": 181.5,
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 40,
    **{f"router.stage.{stage}_ms": 0.012 for stage in ("auth", "admission", "privacy", "cache")},
}
ATTEMPT_ATTRIBUTES: dict[str, str | int | float | bool] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "server.address": "127.0.0.1",
    "server.port": 8101,
    "router.endpoint": "us-east",
    "router.region": "us-east",
}


def _router_request(tracing: Tracing) -> None:
    """The tracing calls of one request, as the handler and the forwarding stage make them."""
    with tracing.request_span("chat gpt-4o-mini", None) as span:
        attempt = tracing.start_span("chat gpt-4o-mini", SpanKind.CLIENT)
        if attempt.is_recording():
            attempt.set_attributes(ATTEMPT_ATTRIBUTES)
        traceparent = traceparent_of(attempt)
        _headers = None if traceparent is None else {"traceparent": traceparent}
        if attempt.is_recording():
            attempt.set_attribute("gen_ai.response.model", "gpt-4o-mini")
            attempt.set_attribute("gen_ai.usage.input_tokens", 12)
            attempt.set_attribute("gen_ai.usage.output_tokens", 40)
        attempt.end()
        if span.is_recording():
            span.set_attributes(REQUEST_ATTRIBUTES)


def _sdk_request(tracer: trace.Tracer) -> None:
    """The same with the SDK's spans (the router's tracing before the exporter process)."""
    with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.SERVER) as span:
        attempt = tracer.start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT)
        headers: dict[str, str] = {}
        if attempt.is_recording():
            attempt.set_attributes(ATTEMPT_ATTRIBUTES)
            propagate.inject(headers, context=trace.set_span_in_context(attempt))
            attempt.set_attribute("gen_ai.response.model", "gpt-4o-mini")
            attempt.set_attribute("gen_ai.usage.input_tokens", 12)
            attempt.set_attribute("gen_ai.usage.output_tokens", 40)
        attempt.end()
        span.set_attributes(REQUEST_ATTRIBUTES)


async def _requests(one: Callable[[], None], count: int) -> float:
    """CPU seconds of this process for `count` requests, 100 per loop turn (as requests arrive
    spread over a second, the exporter's flushes and threads run in between)."""
    started = time.process_time()
    for done in range(count):
        one()
        if done % 100 == 99:
            await asyncio.sleep(0)
    await asyncio.sleep(0.5)  # the last flush, and the SDK's batch thread's work, counted too
    return time.process_time() - started


def _ticks(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _pipe_round(endpoint: str, count: int, other_cpu: int) -> tuple[float, float]:
    tracing = build_tracing(TracingSettings(exporter="otlp", otlp_endpoint=endpoint))
    pipe = tracing.pipe
    assert pipe is not None
    task = asyncio.create_task(pipe.run())
    for _ in range(200):  # the exporter process starts in well under 10 s
        if pipe.connected:
            break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError("the exporter process did not start")
    assert pipe.process is not None
    os.sched_setaffinity(pipe.process.pid, {other_cpu})
    await asyncio.sleep(1.0)  # its imports done
    child_before = _ticks(pipe.process.pid)
    cpu_s = await _requests(lambda: _router_request(tracing), count)
    await asyncio.sleep(1.0)
    child_s = _ticks(pipe.process.pid) - child_before
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert pipe.dropped == 0, f"{pipe.dropped} spans dropped"
    return cpu_s, child_s


async def _sdk_round(endpoint: str, count: int) -> float:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": "edge-router"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    tracer = provider.get_tracer("edge-router")
    cpu_s = await _requests(lambda: _sdk_request(tracer), count)
    provider.shutdown()
    return cpu_s


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    endpoint = f"http://127.0.0.1:{args.sink_port}/v1/traces"
    off = build_tracing(TracingSettings())
    results: dict[str, list[float]] = {"off": [], "pipe": [], "exporter_process": [], "sdk": []}
    for _round in range(args.rounds):
        results["off"].append(await _requests(lambda: _router_request(off), args.requests))
        cpu_s, child_s = await _pipe_round(endpoint, args.requests, args.other_cpu)
        results["pipe"].append(cpu_s)
        results["exporter_process"].append(child_s)
        if not args.no_sdk:
            results["sdk"].append(await _sdk_round(endpoint, args.requests))
    per_request = {
        name: [round(seconds / args.requests * 1e6, 2) for seconds in runs]
        for name, runs in results.items()
        if runs
    }
    return {"requests_per_round": args.requests, "us_per_request": per_request}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument("--other-cpu", type=int, default=1)
    parser.add_argument("--sink-port", type=int, default=4319)
    parser.add_argument("--no-sdk", action="store_true", help="leave out the SDK's way")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    sink = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadtest.studies.otlp_sink",
            "--listen",
            f"127.0.0.1:{args.sink_port}",
        ],
        stdout=subprocess.DEVNULL,
    )
    os.sched_setaffinity(sink.pid, {args.other_cpu})
    try:
        time.sleep(1.5)
        report = asyncio.run(_bench(args))
    finally:
        sink.terminate()
        sink.wait(10)
    for name, runs in report["us_per_request"].items():
        print(f"{name:>17}: {runs} us/request")
    off = min(report["us_per_request"]["off"])
    for name in ("pipe", "sdk"):
        runs = report["us_per_request"].get(name)
        if runs:
            print(f"{name} - off (best rounds): {min(runs) - off:.1f} us/request")


if __name__ == "__main__":
    main()
