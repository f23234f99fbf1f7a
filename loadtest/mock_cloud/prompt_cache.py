"""A region's prompt cache: the prompt prefixes it served recently, as a provider keeps them.

OpenAI caches the prefix of every prompt of 1,024 tokens or more for 5 to 10 minutes and bills a
later prompt that starts with it at a lower price, in 128-token increments; Anthropic reads
cached prefixes the same way. A cache hit also starts the answer sooner: the cached part of the
prompt is not computed again. The mock keeps prefixes at message granularity: a prompt is a head
(the API, the model and the tools, which come before the messages) and its elements in order
(chat messages; Responses instructions and input items; Messages system prompt and messages),
and it has one prefix per element, the digest of the head and the elements up to it. Digests are
made incrementally (one blake2b state, copied at each element), so the work is linear in the size
of the request.

A request is served with the tokens of its longest prefix that this region saw within
`prompt_cache_ttl_s`, rounded down to 128 and none under `prompt_cache_min_tokens`; then every
prefix of it counts as seen now. At most `prompt_cache_entries` digests are kept, the least
recently seen dropped first. The clock is injected, so tests move time instead of waiting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from .parsing import message_words
from .parsing_messages import MessagesRequest
from .parsing_responses import ResponsesRequest
from .response_store import StoredResponse
from .settings import RegionSettings

# OpenAI's increment: a prompt is cached in blocks of 128 tokens after the first 1,024.
BLOCK_TOKENS: Final = 128
_DIGEST_BYTES: Final = 16

# A prefix: its digest and the prompt's tokens up to and with its last element.
Prefix = tuple[bytes, int]


def prompt_head(api: str, model: str, tools: object = None) -> bytes | None:
    """What comes before a prompt's elements: different APIs, models or tools never share a
    prefix. None when the tools are nested too deeply for orjson to write: such a prompt is
    not cached."""
    head = f"{api}\x00{model}\x00".encode()
    if not tools:
        return head
    try:
        return head + orjson.dumps(tools, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None


def prefixes(
    head: bytes | None, elements: Iterable[object], tokens: Iterable[int], start_tokens: int = 0
) -> list[Prefix]:
    """One prefix per element: the digest of `head` and the elements so far, and the tokens so
    far (`start_tokens` plus each element's `tokens`). Keys are sorted, so a client that orders
    a message's fields differently still shares its prefix, as a provider's tokenizer would. An
    element nested too deeply for orjson to write ends the prefixes: from it on, nothing of the
    prompt is cached (a fuzzer's body is answered, not failed); a head that is None has no
    prefixes."""
    if head is None:
        return []
    state = hashlib.blake2b(len(head).to_bytes(8, "big") + head, digest_size=_DIGEST_BYTES)
    so_far = start_tokens
    result = []
    for element, element_tokens in zip(elements, tokens, strict=True):
        try:
            # A JSON value is self-delimiting, so one element's end is never another's start.
            state.update(orjson.dumps(element, option=orjson.OPT_SORT_KEYS))
        except orjson.JSONEncodeError:
            break
        so_far += element_tokens
        result.append((state.copy().digest(), so_far))
    return result


def continuation_head(head: bytes, prompt_digest: bytes, response_id: str) -> bytes:
    """The head of the elements that follow a stored response's prompt and answer: they extend
    that conversation and no other."""
    return head + b"\x00after\x00" + prompt_digest + response_id.encode()


def cached_tokens(prefix_tokens: int, settings: RegionSettings) -> int:
    """What a provider bills as cached for a hit on a prefix of `prefix_tokens`."""
    cached = prefix_tokens // BLOCK_TOKENS * BLOCK_TOKENS
    return cached if cached >= settings.prompt_cache_min_tokens else 0


def ttft_ms(settings: RegionSettings, cached: int, prompt_tokens: int) -> float:
    """The region's time to first token, shortened by the cached share of the prompt."""
    if not cached:
        return settings.ttft_ms
    share = min(1.0, cached / max(1, prompt_tokens))
    return settings.ttft_ms * (1.0 - settings.prompt_cache_ttft_saving * share)


@dataclass(frozen=True, slots=True)
class Served:
    """How a prompt was served: the tokens read from the cache and the time to first token."""

    cached_tokens: int
    ttft_ms: float


class PromptCache:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # Digest -> when it was last seen; insertion-ordered, so the first is the least recent.
        self._seen: dict[bytes, float] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def clear(self) -> None:
        self._seen.clear()

    def serve(self, settings: RegionSettings, prompt: Sequence[Prefix]) -> int:
        """The tokens of the longest prefix of `prompt` (shortest first) seen within the TTL,
        before rounding; then every prefix of it counts as seen now."""
        now = self._clock()
        self._expire(now - settings.prompt_cache_ttl_s)
        seen = self._seen
        longest = 0
        for digest, tokens in prompt:
            if seen.pop(digest, None) is not None:
                longest = tokens
            seen[digest] = now
        limit = settings.prompt_cache_entries
        while len(seen) > limit:
            del seen[next(iter(seen))]
        return longest

    def _expire(self, oldest_kept: float) -> None:
        seen = self._seen
        while seen:
            digest = next(iter(seen))
            if seen[digest] > oldest_kept:
                return
            del seen[digest]


def chat_prompt(data: Mapping[str, Any]) -> list[Prefix]:
    """A chat request's prefixes; `data` has passed `parsing.generation`'s checks."""
    messages = data["messages"]
    head = prompt_head("chat", data["model"], data.get("tools"))
    return prefixes(head, messages, [message_words(m) for m in messages])


def messages_prompt(request: MessagesRequest) -> list[Prefix]:
    """A Messages request's prefixes: its system prompt, then its messages. Anthropic caches up
    to the `cache_control` breakpoints a request marks; the mock caches as if every element were
    one (as OpenAI does without being asked)."""
    head = prompt_head("messages", request.model, request.body.get("tools"))
    return prefixes(head, request.prompt_elements, request.prompt_words)


def responses_prompt(
    request: ResponsesRequest, previous: StoredResponse | None = None
) -> list[Prefix]:
    """A Responses request's prefixes: its instructions, then its input items. A continuation
    (`previous_response_id`, stored as `previous`) starts with the previous request's whole
    prompt, which this region saw when it answered it, and goes on from its answer (whose
    tokens are in no prefix until a request carries them); its instructions are taken to be the
    previous ones, as a client continuing a conversation keeps them."""
    head = prompt_head("responses", request.model, request.body.get("tools"))
    instructions = request.body.get("instructions")
    elements: list[object] = [{"instructions": instructions}] if instructions else []
    # A message may leave out its type; it is the same prompt as with it (and as a string input).
    elements.extend(
        item if "type" in item else {"type": "message", **item} for item in request.items
    )
    if previous is None:
        return prefixes(head, elements, request.prompt_words)
    if head is None:
        return []
    start = [(previous.prompt_digest, previous.prompt_tokens)] if previous.prompt_digest else []
    head = continuation_head(head, previous.prompt_digest, previous.response_id)
    return start + prefixes(head, elements, request.prompt_words, previous.context_tokens)
