"""What one load-generator run is asked to do: the request kinds it can send and the validated
settings of a run (target, kind, the loop and its arrivals, durations, timeouts, pool size) and of
its workload (length distributions, streaming share, tenants, cache repeats and rewordings, PII
share, conversations).

The workload's parts are plain frozen dataclasses, validated when built, so that the scenario
schema (`loadtest/harness/scenario.py`) reads them from YAML as they are (unknown keys refused)
and the generator needs no schema of its own. Every default leaves a run what it was before they
existed: one kind, one key, a fixed open-loop rate, one prompt size, one `max_tokens`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final, Literal, get_args

from pydantic import ConfigDict

from loadtest.generator.distributions import IntSpec, bounds_problem, spec_bounds

RequestKind = Literal[
    "chat-json",
    "chat-stream",
    "responses-json",
    "responses-stream",
    "messages-json",
    "messages-stream",
]
REQUEST_KINDS: Final[tuple[str, ...]] = get_args(RequestKind)
Arrival = Literal["fixed", "poisson"]
ARRIVALS: Final[tuple[str, ...]] = get_args(Arrival)

MAX_PROMPT_BYTES: Final = 10_000_000
MAX_TOKENS: Final = 100_000
# OpenAI's least `max_output_tokens` for the Responses API (a lower one is a 400).
RESPONSES_MIN_TOKENS: Final = 16
MAX_CONCURRENCY: Final = 10_000
MAX_TENANTS: Final = 1000
MAX_TURNS: Final = 100
# A run's schedule is held in memory: this many requests at most.
MAX_REQUESTS: Final = 10_000_000


def api_of(kind: str) -> str:
    """The API a kind speaks: `chat`, `responses` or `messages`."""
    return kind.split("-", 1)[0]


def streamed(kind: str) -> bool:
    return kind.endswith("-stream")


@dataclass(frozen=True, slots=True)
class Tenant:
    """A caller: its API key, its share of the requests (by weight) and its name in reports (the
    key never appears in one)."""

    __pydantic_config__: ClassVar = ConfigDict(extra="forbid")

    name: str
    key: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        if not self.name or not self.key:
            problems.append("name and key must be non-empty")
        if not 0 < self.weight <= 1e6:
            problems.append("weight must be within (0, 1000000]")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class CacheMix:
    """Shares of the requests that repeat an earlier question verbatim (`repeat`) and that ask a
    rewording of an earlier one (`reword`); the rest are new questions. Questions and rewordings
    are the vendored public paraphrase data (`loadtest.generator.questions`)."""

    __pydantic_config__: ClassVar = ConfigDict(extra="forbid")

    repeat: float = 0.3
    reword: float = 0.2

    def __post_init__(self) -> None:
        # 1 - 0.7 - 0.3 is 5.6e-17, not 0: a share of new below a billionth is none.
        if min(self.repeat, self.reword) < 0 or not self.new > 1e-9:
            raise ValueError("repeat and reword must be >= 0 and leave a positive share of new")

    @property
    def new(self) -> float:
        return 1.0 - self.repeat - self.reword


@dataclass(frozen=True, slots=True)
class Conversation:
    """Multi-turn conversations: each has `turns` requests, turn k sending every earlier turn's
    user message and the target's actual answer, then a new user message. In the open loop a
    conversation's turns are `think_s` apart in the schedule (its user's think time); see
    `loadtest.generator.conversation` for when a turn is due."""

    __pydantic_config__: ClassVar = ConfigDict(extra="forbid")

    turns: int
    think_s: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        if not 2 <= self.turns <= MAX_TURNS:
            problems.append(f"turns must be within 2..{MAX_TURNS}")
        if not 0 <= self.think_s <= 3600:
            problems.append("think_s must be within 0..3600")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """One run against one target: open loop at `rate_per_s` (fixed or Poisson arrivals), or
    closed loop with `concurrency` clients (`rate_per_s` then unused)."""

    base_url: str
    kind: RequestKind = "chat-json"
    rate_per_s: float = 100.0
    duration_s: float = 10.0
    warmup_s: float = 2.0
    model: str = "gpt-4o-mini"
    api_key: str = "sk-loadtest"
    max_tokens: IntSpec = 16
    request_timeout_s: float = 30.0
    drain_timeout_s: float = 5.0
    max_connections: int = 1000
    # The user message's size in bytes (0: "hi"), and an assistant message after it (a prefill,
    # the start of the answer the model is to continue), if any.
    prompt_bytes: IntSpec = 0
    prefill: str | None = None
    # The service-level objectives a request must meet to count toward goodput (None: not one):
    # time to first token and time per output token (streams), and end-to-end latency.
    ttft_slo_ms: float | None = None
    tpot_slo_ms: float | None = None
    latency_slo_ms: float | None = None
    # The loop: None is open (the schedule at `rate_per_s`); N is N clients, each sending its
    # next request when its last one ended.
    concurrency: int | None = None
    arrival: Arrival = "fixed"
    # Every random draw of a run (arrivals, kinds, tenants, sizes, questions, PII) comes from
    # generators seeded from this: the same seed, the same workload.
    seed: int = 0
    # The share of requests streamed, `kind`'s API either way (None: every request is `kind`).
    stream_share: float | None = None
    tenants: tuple[Tenant, ...] = ()
    cache: CacheMix | None = None
    pii_share: float = 0.0
    conversation: Conversation | None = None

    def __post_init__(self) -> None:
        problems = self._run_problems() + self._workload_problems()
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def closed_loop(self) -> bool:
        return self.concurrency is not None

    @property
    def kinds(self) -> tuple[RequestKind, ...]:
        """The kinds a run sends: `kind`, or its API's JSON and stream kinds with a share."""
        if self.stream_share is None:
            return (self.kind,)
        api = api_of(self.kind)
        json_kind, stream_kind = f"{api}-json", f"{api}-stream"
        return (json_kind, stream_kind)  # type: ignore[return-value]

    def _run_problems(self) -> list[str]:
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
        if self.max_connections < 1:
            problems.append("max_connections must be >= 1")
        if self.concurrency is not None and not 1 <= self.concurrency <= MAX_CONCURRENCY:
            problems.append(f"concurrency must be within 1..{MAX_CONCURRENCY}")
        if self.arrival not in ARRIVALS:
            problems.append(f"arrival must be one of {ARRIVALS}, not {self.arrival!r}")
        elif self.arrival != "fixed" and self.concurrency is not None:
            problems.append("arrival is the open loop's: a closed loop (concurrency) has none")
        if self.seed < 0:
            problems.append("seed must be >= 0")
        span_s = self.warmup_s + self.duration_s
        if self.concurrency is None and self.rate_per_s * span_s > MAX_REQUESTS:
            problems.append(f"a run schedules at most {MAX_REQUESTS} requests")
        return problems

    def _workload_problems(self) -> list[str]:
        problems = [
            problem
            for problem in (
                bounds_problem("prompt_bytes", self.prompt_bytes, 0, MAX_PROMPT_BYTES),
                bounds_problem("max_tokens", self.max_tokens, 1, MAX_TOKENS),
            )
            if problem is not None
        ]
        if (
            api_of(self.kind) == "responses"
            and spec_bounds(self.max_tokens)[0] < RESPONSES_MIN_TOKENS
        ):
            problems.append(
                f"max_tokens must be >= {RESPONSES_MIN_TOKENS} for the Responses API "
                "(OpenAI's least max_output_tokens)"
            )
        if self.stream_share is not None and not 0 <= self.stream_share <= 1:
            problems.append("stream_share must be within 0..1")
        if not 0 <= self.pii_share <= 1:
            problems.append("pii_share must be within 0..1")
        if len(self.tenants) > MAX_TENANTS:
            problems.append(f"at most {MAX_TENANTS} tenants")
        if len({tenant.name for tenant in self.tenants}) != len(self.tenants):
            problems.append("tenant names must be distinct")
        if self.cache is not None and spec_bounds(self.prompt_bytes) != (0, 0):
            problems.append("cache questions are their own prompts: prompt_bytes must be 0")
        if (
            self.cache is not None
            and api_of(self.kind) != "messages"
            and not isinstance(self.max_tokens, int)
        ):
            problems.append("a cache mix's chat and Responses requests carry no max_tokens")
        if self.cache is not None and self.conversation is not None:
            problems.append("cache and conversation do not combine (a turn is never repeated)")
        if self.conversation is not None and self.prefill is not None:
            problems.append("a conversation's turns end with the user's message: no prefill")
        return problems
