"""What the cache may keep of an answer: never a raw PII value.

An answer to a request that carried PII holds that request's values only as their placeholders
(`<EMAIL_1>`): with `redact` the upstream only ever saw placeholders; with `allow` or
`local-only` the model saw the values, and each is replaced by its placeholder here. Whatever
PII the detectors still find in the answer (a value the model wrote itself) cannot be kept
without keeping the value, so such an answer is not stored at all. A hit is restored with the
values of the request it answers (`router.privacy.answer_restoration`).
"""

from __future__ import annotations

from typing import Any

import orjson

from router.privacy.detectors import detect
from router.privacy.json_texts import NestedTooDeeply, map_texts
from router.privacy.request_redaction import RedactedRequest

# Keys of a `chat.completion` that hold no text of the answer.
_NOT_ANSWER_TEXT = frozenset({"id", "object", "model", "role", "type", "system_fingerprint"})


def cacheable_answer(answer: bytes, found: RedactedRequest | None) -> bytes | None:
    """`answer` (a `chat.completion`) as the cache may store it, or None when it may not be."""
    try:
        return _cacheable(answer, found)
    except NestedTooDeeply:
        return None


def _cacheable(answer: bytes, found: RedactedRequest | None) -> bytes | None:
    body: Any = orjson.loads(answer)
    if found is not None:
        concealed = map_texts(body, found.redactor.conceal, _NOT_ANSWER_TEXT)
        if concealed is not body:
            body, answer = concealed, orjson.dumps(concealed)
    holds_pii = False

    def scan(text: str) -> str:
        nonlocal holds_pii
        holds_pii = holds_pii or bool(detect(text))
        return text

    map_texts(body.get("choices"), scan, _NOT_ANSWER_TEXT)
    return None if holds_pii else answer
