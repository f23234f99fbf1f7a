"""The work of one PII scan, and its regular-expression calls, each given a bounded slice of text.

CPython's `re` holds the GIL for the whole of one call, and the interpreter's switch interval
cannot cut into it: a search that finds nothing in 1 MB is one call of 3 to 50 ms (measured on
1 MB of card-like digit groups: `_CNPJ` 47 ms, the card groups 34 ms, the first numeric run
2 ms; `sum(map(str.isdigit, …))` over it 22 ms), during which no other thread runs, the event
loop included. A scan in a worker thread still held the loop for up to 110 ms that way (issue 13,
docs/benchmarks.md). So the detectors call a pattern through `ScanWork`, which hands each call at
most `slice_chars` characters plus the pattern's reach, and the answer is the one a single call
over the whole text gives:
- `search` and `finditer` take a pattern whose every attempt reads at most `reach` characters
  from where it starts (its longest match and its look-ahead): a match that starts early enough
  in a slice is the first one of the whole text, since no earlier start read past the slice; the
  next slice overlaps the last `reach` characters of this one. Look-behinds read the text before
  a slice, as they do before `pos` in one call.
- `match` takes such a pattern and one place: its call sees `reach` characters.
- `run_end`, `run_slices` and `runs` follow runs of one character class (`[0-9]+`) a slice at a
  time, for values of no longest length (a secret's tail, an e-mail's domain, digit groups).
- `fits_one_call` says whether a stretch is one slice: then any pattern may take it at once,
  which is how most texts are scanned.
Between two calls the scan is Python again, and the loop gets the GIL back within the switch
interval. A slice of 4096 characters costs at most about 1 ms in one call (the slowest pattern,
the phone's, 125 to 250 ns a character where it finds nothing) and adds under 2 % of overlap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

SLICE_CHARS = 4096
# The most findings sorted in one call: a sort of 50,000 takes 10 ms; more are merged in Python.
SORTED_AT_ONCE = 1024

Span = tuple[int, int]


class ScanWork:
    """The work of one scan, in steps: a character handed to a regular expression that scans a
    stretch of text, or a candidate looked at (a match tried from a hint, a combination of digit
    groups, a check-digit test). Every pattern here does a bounded amount of work from each
    place it is tried, so a scan's time is in proportion to its steps; and the steps grow in
    proportion to the text (tests/privacy/test_scan_is_linear.py holds them to it). Counting
    costs one addition per candidate, against the match or check digits it counts.

    It also makes the scan's pattern calls, each on a slice of at most `slice_chars` characters
    and the pattern's reach, and keeps the most characters one call was given (`widest_call`):
    tests/privacy/test_scan_slices.py holds it to the bound, and holds the findings to be the
    same whatever the slice."""

    __slots__ = ("slice_chars", "steps", "widest_call")

    def __init__(self, slice_chars: int = SLICE_CHARS) -> None:
        if slice_chars < 1:
            raise ValueError("a slice holds one character at least")
        self.steps = 0
        self.slice_chars = slice_chars
        self.widest_call = 0

    def search(
        self, pattern: re.Pattern[str], text: str, pos: int, endpos: int, reach: int
    ) -> re.Match[str] | None:
        """`pattern.search(text, pos, endpos)`, for a pattern that reads at most `reach`
        characters from where an attempt starts."""
        chars = endpos - pos
        if chars <= self.slice_chars:  # one call (most texts): the common case first
            if chars > self.widest_call:
                self.widest_call = chars
            return pattern.search(text, pos, endpos)
        endpos = min(endpos, len(text))
        while True:
            stop = pos + self.slice_chars + reach
            if stop >= endpos:  # the last slice
                self._called(endpos - pos)
                return pattern.search(text, pos, endpos)
            self._called(stop - pos)
            match = pattern.search(text, pos, stop)
            if match is not None and match.start() + reach <= stop:
                return match
            pos = stop - reach  # every start before it read only this slice, and failed

    def finditer(
        self, pattern: re.Pattern[str], text: str, pos: int, endpos: int, reach: int
    ) -> Iterator[re.Match[str]]:
        """`pattern.finditer(text, pos, endpos)`, for a pattern as `search` takes that never
        matches the empty string."""
        chars = endpos - pos
        if chars <= self.slice_chars:
            if chars > self.widest_call:
                self.widest_call = chars
            return pattern.finditer(text, pos, endpos)
        return self._finditer_in_slices(pattern, text, pos, endpos, reach)

    def _finditer_in_slices(
        self, pattern: re.Pattern[str], text: str, pos: int, endpos: int, reach: int
    ) -> Iterator[re.Match[str]]:
        while (match := self.search(pattern, text, pos, endpos, reach)) is not None:
            yield match
            pos = match.end()

    def match(
        self, pattern: re.Pattern[str], text: str, pos: int, reach: int
    ) -> re.Match[str] | None:
        """`pattern.match(text, pos)`, for a pattern that reads at most `reach` characters."""
        stop = pos + (reach if reach > self.slice_chars else self.slice_chars)
        if stop > len(text):
            stop = len(text)
        if stop - pos > self.widest_call:
            self.widest_call = stop - pos
        return pattern.match(text, pos, stop)

    def run_slices(self, run: re.Pattern[str], text: str, pos: int, endpos: int) -> Iterator[Span]:
        """The run of `run` (one character class repeated: `[0-9]+`) that starts at `pos` and
        ends at `endpos` at the latest, as consecutive slices; nothing when none starts there."""
        endpos = min(endpos, len(text))
        while pos < endpos:
            stop = min(endpos, pos + self.slice_chars)
            self._called(stop - pos)
            match = run.match(text, pos, stop)
            if match is None:
                return
            yield pos, match.end()
            if match.end() < stop:
                return
            pos = stop

    def run_end(self, run: re.Pattern[str], text: str, pos: int, endpos: int | None = None) -> int:
        """Where the run of `run` that starts at `pos` ends (`pos` when none starts there)."""
        endpos = len(text) if endpos is None else min(endpos, len(text))
        while pos < endpos:
            stop = min(endpos, pos + self.slice_chars)
            self._called(stop - pos)
            match = run.match(text, pos, stop)
            if match is None:
                return pos
            pos = match.end()
            if pos < stop:
                return pos
        return pos

    def runs(self, run: re.Pattern[str], text: str, pos: int, endpos: int) -> Iterator[Span]:
        """Each whole run of `run` in `text[pos:endpos]`: `run.finditer(text, pos, endpos)`'s
        spans, found a slice at a time, a run cut by the end of a slice joined to its rest."""
        endpos = min(endpos, len(text))
        cut: Span | None = None  # a run that reached the end of its slice
        for slice_start in range(pos, endpos, self.slice_chars):
            stop = min(endpos, slice_start + self.slice_chars)
            self._called(stop - slice_start)
            for match in run.finditer(text, slice_start, stop):
                start, end = match.span()
                if cut is not None:
                    if start == cut[1]:
                        start = cut[0]
                    else:
                        yield cut
                    cut = None
                if end == stop:
                    cut = start, end
                else:
                    yield start, end
        if cut is not None:
            yield cut

    def fits_one_call(self, text: str, pos: int, endpos: int) -> bool:
        """Whether `text[pos:endpos]` is one slice: then a pattern of any reach may be called on
        it at once (the call is counted here)."""
        chars = min(endpos, len(text)) - pos
        if chars > self.slice_chars:
            return False
        self._called(chars)
        return True

    def lacks(self, text: str, classes: bytes, needle: bytes) -> bool:
        """Whether `text` surely lacks `needle` in its bytes' classes: its UTF-8 bytes, each
        replaced by its class in `classes` (`byte_classes`), a slice at a time (each overlapping
        the last by the needle's length). A few C loops, 1 to 2 µs for a 1 KB text, against a
        pattern tried at each of its letters or digits (5 µs and more): a detector asks it
        first whether its values' shortest form can be there at all."""
        overlap = len(needle) - 1  # characters: each class in `needle` is one ASCII character's
        if self.slice_chars <= overlap:
            return False
        for start in range(0, len(text), self.slice_chars - overlap):
            stop = min(len(text), start + self.slice_chars)
            self._called(stop - start)
            self.steps += stop - start
            if needle in text[start:stop].encode("utf-8", "surrogatepass").translate(classes):
                return False
        return True

    def _called(self, chars: int) -> None:
        if chars > self.widest_call:
            self.widest_call = chars


def byte_classes(**members: str) -> bytes:
    """A `bytes.translate` table: each ASCII character of a class's members to the class's name
    (one character), every other byte (non-ASCII ones included) to a space."""
    table = bytearray(b" " * 256)
    for name, chars in members.items():
        for char in chars.encode("ascii"):
            table[char] = ord(name)
    return bytes(table)
