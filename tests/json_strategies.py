"""Hypothesis strategies for any JSON value, for the tests that feed what an upstream might send
to the code that reads it."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# The integers orjson decodes (and so the router reads from an upstream's bytes): 64 bits at most.
WIRE_INTEGERS = st.integers(-(2**63), 2**64 - 1)


def json_values(
    integers: st.SearchStrategy[int], *, allow_infinity: bool = False
) -> st.SearchStrategy[Any]:
    """Nested JSON values (at most 20 leaves, short strings and containers), with `integers`,
    and floats that are never NaN and infinite only if `allow_infinity`."""
    return st.recursive(
        st.none()
        | st.booleans()
        | integers
        | st.floats(allow_nan=False, allow_infinity=allow_infinity)
        | st.text(max_size=6),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=20,
    )
