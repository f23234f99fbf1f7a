"""The targets under test: the mock cloud (direct), the bare proxy and, when asked for, the
router, started on loopback against one zero-latency simulator region."""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from loadtest.harness.processes import Processes, ensure_port_free, wait_ready
from loadtest.harness.proxy_settings import LOOPBACK, BenchSettings


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    base_url: str


def mock_cloud_yaml(settings: BenchSettings) -> str:
    # Zero RTT, zero TTFT and unbounded token speed: the simulator answers as fast as it can.
    return (
        f"control: {{host: {LOOPBACK}, port: {settings.mock_control_port}}}\n"
        "regions:\n"
        f"  - name: bench\n"
        f"    port: {settings.mock_port}\n"
        "    rtt_ms: 0\n"
        "    rtt_jitter: 0\n"
        "    ttft_ms: 0\n"
        "    tokens_per_s: 0\n"
        "    error_rate: 0\n"
        "    timeout_rate: 0\n"
    )


def _router_argv(template: str, upstream_base: str, upstream_port: int) -> list[str]:
    command = template.replace("{upstream}", upstream_base)
    command = command.replace("{upstream_port}", str(upstream_port))
    argv = shlex.split(command)
    if shutil.which(argv[0]) is None and (Path(sys.executable).parent / argv[0]).exists():
        argv[0] = str(Path(sys.executable).parent / argv[0])
    return argv


def start_targets(settings: BenchSettings, processes: Processes) -> list[Target]:
    upstream = f"http://{LOOPBACK}:{settings.mock_port}"
    for port in (settings.mock_port, settings.mock_control_port, settings.proxy_port):
        ensure_port_free(port)
    config = processes.log_dir / "mock_cloud.yaml"
    config.write_text(mock_cloud_yaml(settings))
    python = sys.executable
    mock = processes.start(
        "mock_cloud",
        [python, "-m", "loadtest.mock_cloud", "--config", str(config)],
        settings.load_cpu,
    )
    wait_ready(processes, "mock_cloud", mock, f"{upstream}/v1/models", 30.0)
    targets = [Target("direct", f"{upstream}/v1")]
    proxy = processes.start(
        "bare_proxy",
        [
            python,
            "-m",
            "loadtest.harness.bare_proxy",
            "--listen",
            f"{LOOPBACK}:{settings.proxy_port}",
            "--upstream",
            upstream,
        ],
        settings.proxy_cpu,
    )
    proxy_url = f"http://{LOOPBACK}:{settings.proxy_port}/v1"
    wait_ready(processes, "bare_proxy", proxy, f"{proxy_url}/models", 30.0)
    targets.append(Target("bare-proxy", proxy_url))
    if settings.router_cmd and settings.router_url:
        router = processes.start(
            "router",
            _router_argv(settings.router_cmd, f"{upstream}/v1", settings.mock_port),
            settings.proxy_cpu,
        )
        wait_ready(processes, "router", router, f"{settings.router_url.rstrip('/')}/models", 60.0)
        targets.append(Target("router", settings.router_url.rstrip("/")))
    return targets
