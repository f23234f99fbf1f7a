"""The responses a region stored (`store: true`), for `previous_response_id` to continue.

A continuation's prompt is the whole conversation so far, so each stored response keeps the
tokens of its context (its input plus its output) and, for the prompt cache, the digest and
tokens of its prompt (`prompt_cache`); nothing else about it is ever read. The store is bounded:
past `limit` responses the oldest is dropped, as if it had expired. It belongs to the region, not
to its settings, so a patch keeps it; ids name the region, so another region never knows them,
which is what makes "a stateful conversation only continues where it started" testable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredResponse:
    response_id: str
    # The tokens a continuation starts from: the response's input plus its output.
    context_tokens: int
    # The prompt cache's digest of the response's whole prompt and that prompt's tokens (b"" and
    # 0 when the region's prompt cache was off).
    prompt_digest: bytes = b""
    prompt_tokens: int = 0


class ResponseStore:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        # Insertion-ordered: the first key is the oldest.
        self._responses: dict[str, StoredResponse] = {}

    def __len__(self) -> int:
        return len(self._responses)

    def put(self, response: StoredResponse) -> None:
        if self._limit == 0:
            return
        self._responses[response.response_id] = response
        if len(self._responses) > self._limit:
            del self._responses[next(iter(self._responses))]

    def get(self, response_id: str) -> StoredResponse | None:
        """The stored response a continuation of `response_id` extends; None if it is not
        stored."""
        return self._responses.get(response_id)
