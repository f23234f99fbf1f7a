"""The line-up (`python -m loadtest run SCENARIO --start ...`): targets the suite starts itself,
side by side in one run. Direct and the bare proxy run in smoke form (the peers are measured by
`make bench-peers` and `make bench-faults PEER=...`, never by the test command, which must not
depend on them): records for both, interleaved, each with its process, and the side-by-side
report with ratios and added latency; a fault scenario gets the cloud's control API; a missing
peer is named in one line; the peers' configs point at the simulated cloud's regions. Counts,
shapes and arithmetic only: no timing assertion."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
import yaml

from loadtest.__main__ import main
from loadtest.harness.lineup import DEFAULT_CLOUD_CONFIG, LineupSettings, run_lineup
from loadtest.harness.lineup_targets import (
    LITELLM_CONFIG,
    PEERS_CONFIG_DIR,
    PORTKEY_CONFIG,
    LineupError,
    PeerInstalls,
    PeerMissing,
    config_upstreams,
)
from loadtest.harness.report import side_by_side
from loadtest.harness.scenario import load_scenario
from loadtest.mock_cloud.settings import load_cloud_settings

REPO = Path(__file__).resolve().parents[2]
DEMO_CLOUD = REPO / "deploy" / "local" / "mock-cloud.yaml"
ROUTER_FAULTS_CONFIG = REPO / "deploy" / "bench" / "node-faults.yaml"
# A value, what it adds to direct's and their ratio: `1.95 (+0.58, 1.43x)`.
_WITH_ADDED = re.compile(r"\d+\.\d\d \([+-]\d+\.\d\d, \d+\.\d\dx\)")
# Only a guard against a run that hangs; a smoke line-up takes seconds.
_RUN_DEADLINE_S = 180


def _cloud_config(tmp_path: Path) -> Path:
    """The demo's region names (the fault scenarios name them) on ports the system picks, so
    that the test never meets a cloud another run left on 9100-9103."""
    path = tmp_path / "cloud.yaml"
    regions = "".join(
        f"  - {{name: {name}, completion_tokens: 8}}\n"
        for name in ("us-east", "eu-west", "ap-south")
    )
    path.write_text(f"control: {{port: 0}}\nregions:\n{regions}")
    return path


def _run(*args: str, cloud: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """`python -m loadtest run ARGS` on the cloud config `cloud`, its records in `out`."""
    options = ("--cloud-config", str(cloud), "--out", str(out))
    return subprocess.run(
        [sys.executable, "-m", "loadtest", "run", *args, *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=_RUN_DEADLINE_S,
        check=False,
    )


def _records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_start_direct_and_bare_records_both_with_their_processes_and_the_ratios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lineup.jsonl"
    cloud = _cloud_config(tmp_path)
    done = _run("peers", "--smoke", "--start", "direct,bare", cloud=cloud, out=out)
    assert done.returncode == 0, done.stderr
    records = _records(out)
    phases = [phase.name for phase in load_scenario("peers").phases]
    # Interleaved: each phase against direct, then against the bare proxy.
    assert [(r["phase"], r["target"]) for r in records] == [
        (phase, target) for phase in phases for target in ("direct", "bare")
    ]
    for record in records:
        result = record["result"]
        assert result["errors"] == 0 and result["ok"] == result["requests"] > 0
        usage = record["target_process"]
        assert usage["cpu_cores"] >= 0 and usage["rss_max_mib"] >= usage["rss_end_mib"] > 0
        assert set(record["foreign_cores"]) == {"cpu0", "cpu1"}
    pids = {(r["target"], r["target_pid"]) for r in records}
    assert len(pids) == 2 and len({pid for _, pid in pids}) == 2  # one process each, distinct
    # Every process the line-up started is stopped when it ends.
    assert not any(psutil.pid_exists(pid) for _, pid in pids)
    # The run prints the side-by-side table; `compare` on the file gives it again.
    assert "| json-25 | latency p50 ms |" in done.stdout
    assert main(["compare", str(out)]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| phase | metric | direct | bare |")
    assert table.count("| latency p50 ms |") == len(phases)
    # Per stream phase, bare's TTFT with the difference to direct's and the ratio.
    ttft = [line.strip("| ").split(" | ")[3] for line in table.splitlines() if "TTFT p50" in line]
    assert len(ttft) == 2 and all(_WITH_ADDED.fullmatch(cell) for cell in ttft), ttft
    assert main(["report", str(out)]) == 0
    assert "Ratios to direct" in capsys.readouterr().out


def _record(target: str, p50_ms: float, ok_rate: float, cpu_cores: float) -> dict[str, Any]:
    summary = {"p50_ms": p50_ms, "p99_ms": 2 * p50_ms}
    result = {
        "latency": summary,
        "ttft": None,
        "ok_rate_per_s": ok_rate,
        "goodput_per_s": ok_rate,
        "sent_rate_per_s": 100.0,
    }
    process = {"cpu_cores": cpu_cores, "rss_max_mib": 50.0, "rss_end_mib": 50.0}
    return {
        "scenario": "steady-chat",
        "phase": "steady",
        "target": target,
        "result": result,
        "target_process": process,
    }


def test_side_by_side_gives_ratios_to_direct_and_the_latency_added_over_it() -> None:
    table = side_by_side([_record("bare", 3.0, 100.0, 0.05), _record("direct", 2.0, 100.0, 0.02)])
    lines = table.splitlines()
    assert lines[0] == "| phase | metric | bare | direct |"
    assert "| steady | latency p50 ms | 3.00 (+1.00, 1.50x) | 2.00 |" in lines
    assert "| steady | latency p99 ms | 6.00 (+2.00, 1.50x) | 4.00 |" in lines
    assert "| steady | throughput ok/s | 100.0 (1.00x) | 100.0 |" in lines
    # CPU per request: the target's cores over the phase per request sent.
    assert "| steady | CPU µs/request | 500 (2.50x) | 200 |" in lines
    assert not any("TTFT" in line for line in lines)  # JSON answers have none


def test_a_fault_scenario_gets_the_control_api_of_the_cloud_it_started(tmp_path: Path) -> None:
    out = tmp_path / "fault.jsonl"
    cloud = _cloud_config(tmp_path)
    done = _run("fault-unavailable", "--smoke", "--start", "direct", cloud=cloud, out=out)
    assert done.returncode == 0, done.stderr
    (record,) = _records(out)
    # Direct is the faulted region itself: every request a clear 503, nothing to fail over to.
    assert record["fault"] == "unavailable" and record["verdict"] == "safe"
    assert set(record["result"]["errors_by_kind"]) == {"http_503"}


@pytest.mark.parametrize(("peer", "named"), [("litellm", "LiteLLM"), ("portkey", "Portkey")])
def test_a_missing_peer_is_named_in_one_line_that_says_to_run_make_peers(
    tmp_path: Path, peer: str, named: str
) -> None:
    settings = LineupSettings(targets=("direct", peer), installs=PeerInstalls(tmp_path))
    with pytest.raises(PeerMissing) as missing:
        run_lineup(load_scenario("peers").smoke_form(), settings, asyncio.run)
    message = str(missing.value)
    assert "\n" not in message and named in message and "run `make peers`" in message


def test_the_command_line_refuses_a_line_up_it_cannot_run_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "peers", "--smoke", "--start", "direct,nginx"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "nginx" in error and "litellm, portkey" in error
    assert main(["run", "peers", "--start", "direct,direct"]) == 2
    assert "twice" in capsys.readouterr().err
    assert main(["run", "peers", "--start", "direct", "--target", "http://127.0.0.1:9/v1"]) == 2
    assert "drop --target" in capsys.readouterr().err


def test_a_gateway_config_that_points_away_from_the_cloud_is_refused(tmp_path: Path) -> None:
    # The router's bench config names 127.0.0.1:9101-9103; this cloud listens elsewhere.
    settings = LineupSettings(targets=("router",), cloud_config=_cloud_config(tmp_path), core=None)
    with pytest.raises(LineupError, match=r"node-faults\.yaml: endpoints\[0\]\.base_url"):
        run_lineup(load_scenario("peers").smoke_form(), settings, asyncio.run)


def _region_urls(cloud_config: Path) -> set[str]:
    regions = load_cloud_settings(cloud_config).regions
    return {f"http://{region.host}:{region.port}/v1" for region in regions}


def test_the_peers_configs_parse_and_point_at_the_simulated_clouds_regions() -> None:
    regions = _region_urls(DEFAULT_CLOUD_CONFIG)
    # The same upstreams in the overhead runs (this cloud) and the fault runs (the demo's).
    assert len(regions) == 3 and regions == _region_urls(DEMO_CLOUD)
    configs = {"litellm": LITELLM_CONFIG, "portkey": PORTKEY_CONFIG, "router": ROUTER_FAULTS_CONFIG}
    for name, config in configs.items():
        assert {url for _, url in config_upstreams(name, config)} == regions, name
    litellm = yaml.safe_load(LITELLM_CONFIG.read_text())
    router_settings = litellm["router_settings"]
    groups = {deployment["model_name"] for deployment in litellm["model_list"]}
    assert router_settings["num_retries"] >= 1 and router_settings["allowed_fails"] >= 1
    assert router_settings["timeout"] > 0 and router_settings["stream_timeout"] > 0
    ((group, fallbacks),) = router_settings["fallbacks"][0].items()
    assert group == "gpt-4o-mini" and set(fallbacks) <= groups - {group}
    assert litellm["general_settings"]["master_key"] == "sk-loadtest"  # the suite's default key
    portkey = yaml.safe_load(PORTKEY_CONFIG.read_text())
    assert portkey["strategy"]["mode"] == "fallback" and portkey["retry"]["attempts"] >= 1
    assert portkey["request_timeout"] > 0
    assert {target["provider"] for target in portkey["targets"]} == {"openai"}


def test_the_peers_are_pinned_to_exact_versions() -> None:
    requirements = (PEERS_CONFIG_DIR / "litellm-requirements.txt").read_text().splitlines()
    (pin,) = [line for line in requirements if line and not line.startswith("#")]
    assert pin.startswith("litellm[proxy]==")
    package = json.loads((PEERS_CONFIG_DIR / "portkey" / "package.json").read_text())
    versions = [*package["dependencies"].values(), *package["overrides"].values()]
    assert all(version[0].isdigit() for version in versions)  # no ^ or ~ ranges
    lock = json.loads((PEERS_CONFIG_DIR / "portkey" / "package-lock.json").read_text())
    gateway = lock["packages"]["node_modules/@portkey-ai/gateway"]["version"]
    assert gateway == package["dependencies"]["@portkey-ai/gateway"]
