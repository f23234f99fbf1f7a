"""The settings of one proxy benchmark, parsed once from the command line, and the constants
every part of the benchmark shares (the repository root, the request kinds, the loopback host)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
KINDS: Final = ("chat-json", "chat-stream")
LOOPBACK: Final = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class BenchSettings:
    rates: tuple[float, ...]
    kinds: tuple[str, ...]
    duration_s: float
    warmup_s: float
    router_cmd: str | None
    router_url: str | None
    mock_port: int
    mock_control_port: int
    proxy_port: int
    proxy_cpu: int
    load_cpu: int
    model: str
    api_key: str
    p99_budget_ms: float
    search: bool
    search_start_rate: float
    search_step_rate: float
    search_max_rate: float
    search_resolution_rate: float
    search_duration_s: float
    search_warmup_s: float
    search_budget_s: float
    max_other_load: float
    quiet_wait_s: float
    out: Path | None
    markdown: Path | None
    keep_logs: bool
