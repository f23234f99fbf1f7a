"""The texts of a decoded JSON value, rewritten one by one.

`map_texts` applies a function to every string in a value (dicts, lists, nesting), except the
values of keys it is told to skip, and returns the value itself when no string changed: the
common case (nothing to redact or restore) allocates nothing. Given `rewrite_key`, it rewrites
object keys too (a key is text the client wrote: an e-mail address as a metadata key); a key
rewritten into another key of the same object is refused (`KeysCollide`), as merging the two
would drop a value the client sent.

Given `opaque`, an object it says is opaque (a base64 image's `source`, a signed block) is left as
it is, unread: its texts are no one's prose, and rewriting them would corrupt them.

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


class KeysCollide(ValueError):
    pass


def map_texts(
    value: Any,
    rewrite: Callable[[str], str],
    skipped_keys: Collection[str] = (),
    first_keys: tuple[str, ...] = (),
    depth: int = 0,
    rewrite_key: Callable[[str], str] | None = None,
    opaque: Callable[[dict[str, Any]], bool] | None = None,
) -> Any:
    """`value` with `rewrite` applied to each string (and `rewrite_key` to each key, when
    given); `first_keys` of the outermost object are visited before its other keys (the order
    `rewrite` sees texts in, when that matters). Keys are seen before their values."""
    if isinstance(value, str):
        rewritten = rewrite(value)
        return value if rewritten == value else rewritten
    if depth >= MAX_DEPTH and isinstance(value, dict | list):
        raise NestedTooDeeply(f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        if opaque is not None and opaque(value):
            return value
        return _map_object(value, rewrite, skipped_keys, first_keys, depth + 1, rewrite_key, opaque)
    if isinstance(value, list):
        items = [
            map_texts(
                item, rewrite, skipped_keys, depth=depth + 1, rewrite_key=rewrite_key, opaque=opaque
            )
            for item in value
        ]
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
    rewrite_key: Callable[[str], str] | None,
    opaque: Callable[[dict[str, Any]], bool] | None,
) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    renamed: dict[str, str] = {}
    order = (*[k for k in first_keys if k in value], *[k for k in value if k not in first_keys])
    for key in order:
        if rewrite_key is not None:
            new_key = rewrite_key(key)
            if new_key != key:
                renamed[key] = new_key
        if key in skipped_keys:
            continue
        item = value[key]
        mapped = map_texts(
            item, rewrite, skipped_keys, depth=depth, rewrite_key=rewrite_key, opaque=opaque
        )
        if mapped is not item:
            changed[key] = mapped
    if not changed and not renamed:
        return value
    # The same key order.
    mapped_object = {renamed.get(k, k): changed.get(k, item) for k, item in value.items()}
    if len(mapped_object) != len(value):
        raise KeysCollide("a rewritten key is another key of the same object")
    return mapped_object
