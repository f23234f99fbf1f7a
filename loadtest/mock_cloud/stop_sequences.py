"""Stop sequences: an answer cut where the first of the request's `stop` strings begins.

The answer is known whole before the first byte is sent, so the cut is made once, on its pieces,
and a stream never has to hold text back: a stop sequence spanning two events is found like any
other, and nothing at or after it is ever written.
"""

from __future__ import annotations

from collections.abc import Sequence


def cut_at_stop(pieces: Sequence[str], stops: Sequence[str]) -> tuple[str, ...] | None:
    """The pieces of the text before the earliest occurrence of any of `stops`, the piece it falls
    inside cut short and dropped when nothing of it is left; None when no stop sequence occurs.

    An empty stop sequence never occurs: it would end every answer before its first character.
    """
    found = cut_at_first_stop(pieces, stops)
    return None if found is None else found[0]


def cut_at_first_stop(
    pieces: Sequence[str], stops: Sequence[str]
) -> tuple[tuple[str, ...], str] | None:
    """`cut_at_stop`, and the stop sequence found (of two starting at the same place, the shorter:
    a model generating the text completes it first)."""
    text = "".join(pieces)
    starts = [(at, len(stop), stop) for stop in stops if stop and (at := text.find(stop)) >= 0]
    if not starts:
        return None
    cut, _, stop = min(starts)
    kept: list[str] = []
    start = 0
    for piece in pieces:
        if start + len(piece) > cut:
            if cut > start:
                kept.append(piece[: cut - start])
            break
        kept.append(piece)
        start += len(piece)
    return tuple(kept), stop
