"""What one load-generator run is asked to do: the request kinds it can send and the validated
settings of a run (target, kind, rate, durations, timeouts, pool size)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

RequestKind = Literal["chat-json", "chat-stream"]
REQUEST_KINDS: Final[tuple[str, ...]] = get_args(RequestKind)


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """One open-loop run against one target."""

    base_url: str
    kind: RequestKind = "chat-json"
    rate_per_s: float = 100.0
    duration_s: float = 10.0
    warmup_s: float = 2.0
    model: str = "gpt-4o-mini"
    api_key: str = "sk-loadtest"
    max_tokens: int = 16
    request_timeout_s: float = 30.0
    drain_timeout_s: float = 5.0
    max_connections: int = 1000
    # The user message's size in bytes (0: "hi"), and an assistant message after it (a prefill,
    # the start of the answer the model is to continue), if any.
    prompt_bytes: int = 0
    prefill: str | None = None
    # The service-level objectives a request must meet to count toward goodput (None: not one):
    # time to first token and time per output token (streams), and end-to-end latency.
    ttft_slo_ms: float | None = None
    tpot_slo_ms: float | None = None
    latency_slo_ms: float | None = None

    def __post_init__(self) -> None:
        problems = []
        for name in ("ttft_slo_ms", "tpot_slo_ms", "latency_slo_ms"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                problems.append(f"{name} must be > 0")
        if self.kind not in REQUEST_KINDS:
            problems.append(f"kind must be one of {REQUEST_KINDS}, not {self.kind!r}")
        if not self.rate_per_s > 0:
            problems.append("rate_per_s must be > 0")
        if not self.duration_s > 0:
            problems.append("duration_s must be > 0")
        if self.warmup_s < 0:
            problems.append("warmup_s must be >= 0")
        if self.request_timeout_s <= 0 or self.drain_timeout_s < 0:
            problems.append("request_timeout_s must be > 0 and drain_timeout_s >= 0")
        if not 0 <= self.prompt_bytes <= 10_000_000:
            problems.append("prompt_bytes must be within 0..10000000")
        if self.max_connections < 1:
            problems.append("max_connections must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))
