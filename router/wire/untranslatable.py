"""A Responses or Messages request with parts no translation carries, kept for the endpoints that
speak its own API.

Every stage works on a request's Chat Completions form, but some of what these APIs take has
none: OpenAI's hosted tools and item references, Anthropic's server tools, `top_k`, containers,
a field newer than this router. Such a part is refused by the parse as `Untranslatable`. Rather
than refuse the request, the ingress parses it again without that part (`chat_form`), at most
`MAX_LEFT_OUT` times: what is left is the form the stages read (its limits, privacy scan, route
and affinity; it is never cached), and the request itself goes whole, in its own API, only to an
endpoint that speaks it (`router.wire.native`); where the alias has none, the client gets the
first refusal, the 400 it got before pass-through existed.

A part is left out by its refusal's `param`: the list item it is in (a tool, an input item, a
content block), or else the top-level field it is under. Each try copies only the path to it, so
the work stays linear in the body's size.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, TypeVar

from router.errors import InvalidRequest, Untranslatable

T = TypeVar("T")

# Parts left out at most before the request is refused all the same.
MAX_LEFT_OUT: Final = 16
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def chat_form(
    parse: Callable[[dict[str, Any]], T], body: dict[str, Any]
) -> tuple[T, Untranslatable | None]:
    """`parse(body)`; where it refuses a part as untranslatable, `parse` of the body without it,
    and the first refusal (None when nothing was left out). Raises that refusal when a part
    cannot be found by its param, when more than `MAX_LEFT_OUT` would go, or when the body is
    invalid without them; any other refusal as it is."""
    first: Untranslatable | None = None
    current = body
    for _ in range(MAX_LEFT_OUT + 1):
        try:
            return parse(current), first
        except Untranslatable as refusal:
            first = first or refusal
            left = without(current, refusal.param)
            if left is None:
                raise first from None
            current = left
        except InvalidRequest:
            if first is None:
                raise
            raise first from None  # invalid only once a part was left out: the part's refusal
    assert first is not None
    raise first


def without(body: dict[str, Any], param: str | None) -> dict[str, Any] | None:
    """`body` without the part `param` names (`tools[1].type`: the tool; `top_k`: the field),
    copied along the path only; None when `param` names nothing in it."""
    if not param:
        return None
    steps: list[str | int] = [name if name else int(index) for name, index in _STEP.findall(param)]
    if not steps:
        return None
    cut = max((i for i, step in enumerate(steps) if isinstance(step, int)), default=0)
    removed = _removed(body, steps[: cut + 1])
    return removed if isinstance(removed, dict) else None


def _removed(value: object, path: list[str | int]) -> object | None:
    step, rest = path[0], path[1:]
    if isinstance(value, dict) and isinstance(step, str) and step in value:
        if not rest:
            return {key: item for key, item in value.items() if key != step}
        inner = _removed(value[step], rest)
        return None if inner is None else {**value, step: inner}
    if isinstance(value, list) and isinstance(step, int) and step < len(value):
        if not rest:
            return [*value[:step], *value[step + 1 :]]
        inner = _removed(value[step], rest)
        return None if inner is None else [*value[:step], inner, *value[step + 1 :]]
    return None
