"""One region's state besides its sockets: settings, randomness, counters, recent requests, the
responses it stored, the prompts it cached and what its fault mode remembers.

Settings are swapped whole; a request reads `state.settings` once and keeps that snapshot, so a
patch never changes a request halfway. Counters satisfy, at any moment,
`requests_total == in_flight + completed + cancelled`.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from multidict import CIMultiDictProxy

from .faults import FaultState
from .prompt_cache import Prefix, PromptCache, Served, cached_tokens, ttft_ms
from .response_store import ResponseStore
from .settings import DEFAULT_RESPONSE_STORE_LIMIT, RegionSettings
from .wire import Billed, models_body

AuthVerdict = Literal["valid", "invalid", "missing"]
# The headers that carry a key: OpenAI's APIs read `Authorization: Bearer`, Anthropic's `x-api-key`.
CREDENTIAL_HEADERS: Final = ("authorization", "x-api-key")


@dataclass(slots=True)
class RegionStats:
    requests_total: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    # Answered in full, whatever the status.
    completed: int = 0
    # The client went away (or the region went down) before the answer was complete.
    cancelled: int = 0
    errors_injected: int = 0
    timeouts_injected: int = 0
    inband_errors_injected: int = 0
    # Requests (and streams) the region's fault mode acted on (`RegionSettings.fault`).
    faults_injected: int = 0
    # Requests served with cached prompt tokens, and those tokens.
    prompt_cache_hits: int = 0
    prompt_cache_cached_tokens: int = 0
    # What the region bills: the generation answers it completed with usage (a JSON answer, a
    # stream whose closing carried it), and the input and output tokens that usage reported, in
    # the API's own fields (`wire.Billed`). A refused, cut, stalled or in-band failed answer
    # reports none and bills nothing.
    billed_answers: int = 0
    billed_prompt_tokens: int = 0
    billed_completion_tokens: int = 0

    def bill(self, usage: Billed) -> None:
        self.billed_answers += 1
        self.billed_prompt_tokens += usage.prompt_tokens
        self.billed_completion_tokens += usage.completion_tokens

    def reset(self) -> None:
        # Requests still in flight stay counted, so the invariant holds across a reset.
        self.requests_total = self.in_flight
        self.by_path.clear()
        self.completed = self.cancelled = self.errors_injected = self.timeouts_injected = 0
        self.inband_errors_injected = self.prompt_cache_hits = self.prompt_cache_cached_tokens = 0
        self.faults_injected = 0
        self.billed_answers = self.billed_prompt_tokens = self.billed_completion_tokens = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "by_path": dict(self.by_path),
            "in_flight": self.in_flight,
            "completed": self.completed,
            "cancelled": self.cancelled,
            "errors_injected": self.errors_injected,
            "timeouts_injected": self.timeouts_injected,
            "inband_errors_injected": self.inband_errors_injected,
            "faults_injected": self.faults_injected,
            "prompt_cache_hits": self.prompt_cache_hits,
            "prompt_cache_cached_tokens": self.prompt_cache_cached_tokens,
            "billed_answers": self.billed_answers,
            "billed_prompt_tokens": self.billed_prompt_tokens,
            "billed_completion_tokens": self.billed_completion_tokens,
        }


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One received request, kept as aiohttp parsed it; formatted only when someone asks."""

    received_at: float
    method: str
    path: str
    query: str
    headers: CIMultiDictProxy[str]
    auth: AuthVerdict
    body: bytes
    # The header `auth` judges (`CREDENTIAL_HEADERS`): the one the request's API reads.
    credential: str = "authorization"

    def to_json(self) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            # A key itself never leaves the process; tests only need to know if it matched.
            shown = value
            if key in CREDENTIAL_HEADERS:
                shown = self.auth if key == self.credential else "unchecked"
            headers[key] = f"{headers[key]}, {shown}" if key in headers else shown
        return {
            "received_at": self.received_at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": headers,
            "auth": self.auth,
            "body": self.body.decode("utf-8", errors="replace"),
        }


def auth_verdict(authorization: str | None, api_key: str | None) -> AuthVerdict:
    if authorization is None:
        return "missing"
    if api_key is None or authorization == f"Bearer {api_key}":
        return "valid"
    return "invalid"


def api_key_verdict(x_api_key: str | None, api_key: str | None) -> AuthVerdict:
    """`auth_verdict` for Anthropic's `x-api-key` header, which holds the bare key."""
    if x_api_key is None:
        return "missing"
    return "valid" if api_key is None or x_api_key == api_key else "invalid"


class RegionState:
    def __init__(
        self,
        settings: RegionSettings,
        rng: random.Random,
        record_limit: int,
        response_store_limit: int = DEFAULT_RESPONSE_STORE_LIMIT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rng = rng
        self.stats = RegionStats()
        self.records: deque[RequestRecord] = deque(maxlen=record_limit)
        # Kept across `reset`: stored conversations are the cloud's data, not test counters.
        self.responses = ResponseStore(response_store_limit)
        # Kept across `reset` too; emptied when a patch turns it off.
        self.prompt_cache = PromptCache(clock)
        # Kept across `reset` too: only naming `fault` in a patch re-arms it.
        self.faults = FaultState(clock)
        self.settings = settings
        self.models = frozenset(settings.models)
        self.models_body = models_body(settings.models)

    def apply(self, settings: RegionSettings, *, fault_named: bool = False) -> None:
        """Swap the settings. `fault_named`: the change names `fault` (a patch that has it), which
        re-arms the fault even when the mode stays the same; a change of mode always does."""
        if settings.name != self.settings.name:
            raise ValueError("a region cannot be renamed")
        if fault_named or settings.fault != self.settings.fault:
            self.faults.arm()
        # Derived values first: a request that snaps the new settings must see matching models.
        self.models = frozenset(settings.models)
        self.models_body = models_body(settings.models)
        if not settings.prompt_cache:
            self.prompt_cache.clear()
        self.settings = settings

    def serve_prompt(
        self, settings: RegionSettings, prompt: Sequence[Prefix], prompt_tokens: int
    ) -> Served:
        """Serve a prompt through the region's prompt cache (`prompt_cache`), counting hits; an
        empty `prompt` (the cache is off, or the request has none) is served cold."""
        if not settings.prompt_cache or not prompt:
            return Served(0, settings.ttft_ms)
        cached = cached_tokens(self.prompt_cache.serve(settings, prompt), settings)
        if cached:
            self.stats.prompt_cache_hits += 1
            self.stats.prompt_cache_cached_tokens += cached
        return Served(cached, ttft_ms(settings, cached, prompt_tokens))

    def sample_rtt_s(self, settings: RegionSettings) -> float:
        """One simulated round trip: lognormal around the median `rtt_ms`."""
        if settings.rtt_ms == 0:
            return 0.0
        if settings.rtt_jitter == 0:
            return settings.rtt_ms / 1000
        return settings.rtt_ms * math.exp(self.rng.gauss(0.0, settings.rtt_jitter)) / 1000

    def record(
        self,
        method: str,
        path: str,
        query: str,
        headers: CIMultiDictProxy[str],
        auth: AuthVerdict,
        body: bytes,
        credential: str = "authorization",
    ) -> None:
        if self.records.maxlen:
            self.records.append(
                RequestRecord(time.time(), method, path, query, headers, auth, body, credential)
            )

    def reset(self) -> None:
        self.stats.reset()
        self.records.clear()
