"""The fault modes of a region (`RegionSettings.fault`): what each does to a generation request.

The catalogue is Failover Bench's, the one public scorecard of how LLM gateways weather provider
faults; the comment at `RegionSettings.fault` says what each mode does and to which requests. The
region's HTTP face (`region_http`) asks once per generation request it would otherwise answer what
the fault does to it (`request_fault`): an error answered in its place (`FaultAnswer`), an action
of its own (reset the connection, never answer, wait before the first byte, filter the answer), or
nothing. The stream faults act later, on a streamed answer (`stream_fault`, then
`streaming.write_events` and `region_http` for how the stream ends).

What a fault remembers (whether a "once" fault has struck, when flapping began) is the region's
(`FaultState`, owned by `RegionState`), so it outlives settings swaps; a patch that names `fault`
re-arms it. Flapping reads the region's injected clock, so a test moves time instead of waiting.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

import orjson

from .errors import ApiError, context_length_error, injected_error, prefill_rejected_error
from .settings import RegionSettings

# What the HTTP face does itself for a fault that is not an error answer.
FaultAction = Literal["reset", "no_response", "slow_ttft", "content_filter"]
StreamFault = Literal["stream_cut", "stall", "malformed_chunk", "missing_done"]
_ACTIONS: Final[dict[str, FaultAction]] = {
    "reset": "reset",
    "no_response": "no_response",
    "slow_ttft": "slow_ttft",
    "content_filter": "content_filter",
}
_STREAM_FAULTS: Final[dict[str, StreamFault]] = {
    "stream_cut": "stream_cut",
    "stall": "stall",
    "malformed_chunk": "malformed_chunk",
    "missing_done": "missing_done",
}
# SO_LINGER on with a zero timeout: closing the socket then drops the connection with a reset.
_LINGER_ZERO: Final = struct.pack("ii", 1, 0)


class FaultState:
    """What a region's fault remembers between requests."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._once_spent = False
        self._armed_at = clock()

    def arm(self) -> None:
        """A "once" fault strikes again, and flapping starts over, healthy."""
        self._once_spent = False
        self._armed_at = self._clock()

    def take_once(self) -> bool:
        """True for the first request since the fault was armed, False after."""
        if self._once_spent:
            return False
        self._once_spent = True
        return True

    def flapped_down(self, period_s: float) -> bool:
        """Whether flapping is in an unavailable period: the odd ones since it was armed."""
        return int((self._clock() - self._armed_at) // period_s) % 2 == 1


@dataclass(frozen=True, slots=True)
class FaultAnswer:
    """An error answered in place of the request's answer, with headers of its own."""

    error: ApiError
    headers: Mapping[str, str] = field(default_factory=dict)


def request_fault(
    settings: RegionSettings, state: FaultState, api: str, body: bytes
) -> FaultAnswer | FaultAction | None:
    """What the region's fault does to a generation request of `api` (`settings.API_NAMES`)
    before it is answered; None: it is answered as usual (a stream fault acts on the stream)."""
    fault = settings.fault
    if fault is None:
        return None
    dialect = "anthropic" if api == "messages" else "openai"
    if fault == "rate_limit" or (fault == "rate_limit_once" and state.take_once()):
        retry_after = {"Retry-After": str(settings.retry_after_s)}
        return FaultAnswer(injected_error(429, dialect), retry_after)
    if fault == "error_once" and state.take_once():
        return FaultAnswer(injected_error(500, dialect))
    flapped = fault == "flapping" and state.flapped_down(settings.flap_period_s)
    if fault == "unavailable" or flapped:
        return FaultAnswer(injected_error(503, dialect))
    if fault == "context_length":
        return FaultAnswer(context_length_error(api))
    if fault == "reject_prefill" and ends_with_prefill(api, body):
        return FaultAnswer(prefill_rejected_error(api))
    return _ACTIONS.get(fault)


def stream_fault(settings: RegionSettings) -> StreamFault | None:
    """The fault a streamed generation answer suffers, if the region's is a stream fault."""
    return None if settings.fault is None else _STREAM_FAULTS.get(settings.fault)


def ends_with_prefill(api: str, body: bytes) -> bool:
    """Whether the request's conversation ends with the assistant's message: the last of chat's
    and Messages' `messages`, or the last item of a Responses `input` list. A body the API would
    reject is not a prefill; the API's own checks answer it."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(data, dict):
        return False
    items = data.get("input" if api == "responses" else "messages")
    if not isinstance(items, list) or not items or not isinstance(items[-1], dict):
        return False
    last = items[-1]
    # Responses items other than messages (function calls, their outputs) have a `type`.
    return bool(last.get("role") == "assistant" and last.get("type", "message") == "message")


def reset_connection(transport: asyncio.Transport | None) -> None:
    """Drop the connection with a TCP RST. `abort()` alone closes at once but, with nothing left
    unread, the kernel still ends the connection with an orderly FIN."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    transport.abort()


async def hang() -> None:
    """Wait for good: the server's runner cancels the handler once its connection is lost
    (`handler_cancellation`), which is how every wait here ends."""
    await asyncio.get_running_loop().create_future()
