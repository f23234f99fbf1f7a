"""The Grafana dashboard and the alerting rules, checked against what the router really exports.

The committed JSON and YAML are what the code generates; promtool accepts the rules and passes
their unit tests; and a real Prometheus (Debian's, installed by `make system-deps`) scraping a
live router and a live edge worker under a bounded load returns data for every query of the
dashboard and every signal of the rules.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
import yaml

from router.telemetry import alerts, grafana
from tests.edge_worker.running_worker import running_worker
from tests.redis_server import free_port
from tests.stack import Stack, running_stack
from tests.tenant_policies import key_of, write_policies

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "edge-router.json"
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "alerts_test.yml"
QUESTION = [{"role": "user", "content": "What is the capital of Peru?"}]
PII = [{"role": "user", "content": "Write to maria.silva@example.com.br about my order."}]
TENANTS = {
    # The cache on, PII redacted: hits, privacy actions.
    "acme": {
        "models": [{"alias": "gpt-4o-mini"}],
        "cache": {"enabled": True},
        "privacy": {"on_pii": "redact"},
    },
    # Routed by latency, hedging: a hedge once its fastest endpoint turns slow.
    "hedger": {
        "models": [{"alias": "gpt-4o-mini"}],
        "routing": {
            "objective": "latency",
            "hedging": {"enabled": True, "max_extra_cost_share": 0.5},
            "explain": "full",
        },
    },
    # A budget spent by its first answer, and a rate limit: refusals of both kinds.
    "tight": {
        "models": [{"alias": "gpt-4o-mini"}],
        "limits": {"daily_budget_usd": 0.000001, "requests_per_minute": 3},
    },
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make system-deps` installs Debian's prometheus"
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)


def test_the_committed_dashboard_and_rules_are_the_generated_ones() -> None:
    assert DASHBOARD.read_text() == grafana.render(), "run `make dashboards`"
    assert RULES.read_text() == alerts.render(), "run `make dashboards`"


def test_promtool_accepts_the_rules_and_passes_their_unit_tests() -> None:
    checked = _promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # Every rule has at least one unit test.
    names = {t["alertname"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
             for t in test["alert_rule_test"]}  # fmt: skip
    assert names == {rule.name for rule in alerts.RULES}


@contextmanager
def _prometheus(directory: Path, router: str, worker: str) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: `make system-deps` installs Debian's prometheus"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "edge-router", "static_configs": [{"targets": [router]}]},
            {"job_name": "edge-worker", "static_configs": [{"targets": [worker]}]},
        ],
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "prometheus.log").open("wb"),
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def _query(http: aiohttp.ClientSession, prometheus: str, expr: str) -> list[Any]:
    async with http.get(f"{prometheus}/api/v1/query", params={"query": expr}) as response:
        answer = await response.json()
    assert answer["status"] == "success", (expr, answer)
    result: list[Any] = answer["data"]["result"]
    return result


async def _until(http: aiohttp.ClientSession, prometheus: str, expr: str, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if await _query(http, prometheus, expr):
                return
        except aiohttp.ClientError:
            pass  # not listening yet
        await asyncio.sleep(0.5)
    raise AssertionError(f"no data for {expr} within {wait_s} s")


async def _hedge_once(stack: Stack) -> None:
    """The hedging tenant's requests until its fastest endpoint's window of first bytes can time
    a hedge, then one while that endpoint is slow: another answers it."""
    hedger = stack.client(api_key=key_of("hedger"))
    for _ in range(200):
        raw = await hedger.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=QUESTION
        )
        fastest = raw.headers["x-router-endpoint"]
        view = await stack.admin_endpoints()
        (endpoint,) = [e for e in view["endpoints"] if e["name"] == fastest]
        if endpoint["models"]["gpt-4o-mini"]["p95"]["latency_samples"] >= 20:
            break
    await stack.control(fastest, ttft_ms=1000.0)
    answer = await hedger.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=QUESTION
    )
    await stack.control(fastest, ttft_ms=0.0)
    assert "hedge_cancelled=" in answer.headers["x-router-reason"]


async def _traffic(stack: Stack, worker: str) -> None:
    """A bounded load with every kind of answer the panels show: cloud answers (JSON and
    streams), cache hits, redactions, fail-overs from a failing region, refusals (an unknown
    model, a spent budget, a rate limit), and the edge worker generating."""
    acme, tight = stack.client(api_key=key_of("acme")), stack.client(api_key=key_of("tight"))
    node = stack.client(default_headers={"x-router-objective": "latency"})
    await stack.control("us-east", error_rate=0.5)
    async with aiohttp.ClientSession() as http:
        for round_ in range(12):
            await acme.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
            await acme.chat.completions.create(model="gpt-4o-mini", messages=PII)
            stream = await node.chat.completions.create(
                model="gpt-4o-mini",
                messages=QUESTION,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for _ in stream:
                pass
            for client, model in ((node, "no-such-model"), (tight, "gpt-4o-mini")):
                with suppress(openai.NotFoundError, openai.RateLimitError):
                    await client.chat.completions.create(model=model, messages=QUESTION)
            if round_ % 4 == 0:
                body = {"model": "smollm2-135m-instruct", "messages": QUESTION, "max_tokens": 8}
                async with http.post(f"http://{worker}/v1/chat/completions", json=body) as answer:
                    assert answer.status == 200
            await asyncio.sleep(0.4)
    await stack.control("us-east", error_rate=0.0)
    await _hedge_once(stack)


@pytest.mark.asyncio
async def test_every_query_and_signal_returns_data_from_a_real_prometheus(tmp_path: Path) -> None:
    policies = write_policies(tmp_path / "policies", TENANTS)
    overrides = {
        "policies": {"directory": str(policies), "watch": False},
        "cache": {"enabled": True, "semantic": False},
    }
    async with running_stack(overrides=overrides) as stack, running_worker() as worker_url:
        worker = worker_url.removeprefix("http://")
        router = stack.url.removeprefix("http://")
        with _prometheus(tmp_path, router, worker) as prometheus:
            async with aiohttp.ClientSession() as http:
                await _until(http, prometheus, 'up{job="edge-router"} == 1', 30)
                await _until(http, prometheus, 'up{job="edge-worker"} == 1', 30)
                await _traffic(stack, worker)
                await asyncio.sleep(2.5)  # two more scrapes after the last request
                empty = []
                for expr in [*grafana.queries(), *(rule.signal for rule in alerts.RULES)]:
                    result = await _query(http, prometheus, expr)
                    values = [float(series["value"][1]) for series in result]
                    if not any(math.isfinite(value) for value in values):
                        empty.append(expr)
    assert not empty, "no data for:\n" + "\n".join(empty)
