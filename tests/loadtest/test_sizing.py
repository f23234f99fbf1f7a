"""The sizing study's arithmetic (loadtest/studies/sizing.py): the router's CPU per request from
its cores over the phase and its answers per second, the latency added over direct in the same
phase, Redis's share, and the rate a core allows at 80% busy. On records as the runner writes them;
the study's runs themselves are measurements (docs/sizing.md)."""

from __future__ import annotations

from typing import Any

import yaml

from loadtest.harness.proxy_settings import REPO_ROOT
from loadtest.studies.sizing import SetUp, _combined, router_config, table


def _record(
    target: str, phase: str, ok_rate: float, p50: float, p99: float, **extra: Any
) -> dict[str, Any]:
    result = {
        "ok_rate_per_s": ok_rate,
        "ok": int(ok_rate * 10),
        "errors": 0,
        "latency": {"p50_ms": p50, "p99_ms": p99},
    }
    return {"target": target, "phase": phase, "result": result, **extra}


def test_cpu_per_request_added_latency_and_capacity() -> None:
    records = [
        _record("direct", "chat-json", 1000.0, 0.5, 1.0),
        _record(
            "router+tenant+redis",
            "chat-json",
            1000.0,
            1.0,
            3.0,
            target_process={"cpu_cores": 0.5, "rss_end_mib": 130.0, "rss_max_mib": 140.0},
            redis_cores=0.2,
        ),
    ]
    (row,) = [line for line in table(records).splitlines() if line.startswith("| router")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:5] == ["router+tenant+redis", "chat-json", "1000", "10000", "0"]
    assert cells[5] == "0.50 / 2.00"  # added over direct
    assert cells[6] == "500"  # 0.5 cores / 1000 req/s
    assert cells[8] == "130 / 140"
    assert cells[9] == "200"  # Redis: 0.2 cores / 1000 req/s
    assert cells[10] == "1,600"  # 0.8 of a core / 500 µs


def test_the_router_configs_point_at_the_run_s_cloud_and_redis() -> None:
    setup = SetUp("r", REPO_ROOT / "deploy" / "bench" / "node-policies.yaml", redis=True)
    config = yaml.safe_load(router_config(setup, 18080, 19101, "redis://127.0.0.1:16379/0"))
    assert config["server"]["port"] == 18080
    assert {e["base_url"] for e in config["endpoints"]} == {"http://127.0.0.1:19101/v1"}
    assert config["limits"] == {"backend": "redis", "redis": {"url": "redis://127.0.0.1:16379/0"}}
    assert config["policies"]["directory"] == str(REPO_ROOT / "deploy" / "bench" / "policies")


def test_a_phase_against_two_processes_counts_both() -> None:
    first = _record(
        "x",
        "chat-json",
        500.0,
        1.0,
        4.0,
        target_process={"cpu_cores": 0.25, "rss_end_mib": 120.0, "rss_max_mib": 125.0},
    )
    second = _record(
        "x",
        "chat-json",
        500.0,
        2.0,
        3.0,
        target_process={"cpu_cores": 0.30, "rss_end_mib": 121.0, "rss_max_mib": 126.0},
    )
    combined = _combined("2 x router", [first, second])
    assert combined["target"] == "2 x router"
    assert combined["result"]["ok_rate_per_s"] == 1000.0 and combined["result"]["ok"] == 10_000
    assert combined["result"]["latency"] == {"p50_ms": 2.0, "p99_ms": 4.0}  # the worse of each
    assert combined["target_process"] == {
        "cpu_cores": 0.55,
        "rss_end_mib": 241.0,
        "rss_max_mib": 251.0,
    }
    assert _combined("one", [first]) is first
