"""The texts of a decoded JSON value, rewritten one by one.

`map_texts` applies a function to every string in a value (dicts, lists, nesting), except the
values of keys it is told to skip, and returns the value itself when no string changed: the
common case (nothing to redact or restore) allocates nothing.

A value nested deeper than `MAX_DEPTH` is refused (`NestedTooDeeply`) rather than walked: JSON
decoders accept about a thousand levels, more than Python's recursion allows, and no OpenAI
request or answer comes near a hundred.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

MAX_DEPTH = 100


class NestedTooDeeply(ValueError):
    pass


def map_texts(
    value: Any,
    rewrite: Callable[[str], str],
    skipped_keys: Collection[str] = (),
    first_keys: tuple[str, ...] = (),
    depth: int = 0,
) -> Any:
    """`value` with `rewrite` applied to each string; `first_keys` of the outermost object are
    visited before its other keys (the order `rewrite` sees texts in, when that matters)."""
    if isinstance(value, str):
        rewritten = rewrite(value)
        return value if rewritten == value else rewritten
    if depth >= MAX_DEPTH and isinstance(value, dict | list):
        raise NestedTooDeeply(f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        return _map_object(value, rewrite, skipped_keys, first_keys, depth + 1)
    if isinstance(value, list):
        items = [map_texts(item, rewrite, skipped_keys, depth=depth + 1) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items
    return value


def _map_object(
    value: dict[str, Any],
    rewrite: Callable[[str], str],
    skipped_keys: Collection[str],
    first_keys: tuple[str, ...],
    depth: int,
) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    order = (*[k for k in first_keys if k in value], *[k for k in value if k not in first_keys])
    for key in order:
        if key in skipped_keys:
            continue
        item = value[key]
        mapped = map_texts(item, rewrite, skipped_keys, depth=depth)
        if mapped is not item:
            changed[key] = mapped
    if not changed:
        return value
    return {key: changed.get(key, item) for key, item in value.items()}  # the same key order
