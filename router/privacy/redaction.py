"""Reversible redaction: PII values replaced by stable placeholders before a request leaves, and
restored in the answer before the client sees it.

A `Redactor` belongs to one request (and its conversation: every message is redacted with the
same one). Each distinct value gets a placeholder naming its kind and its order, `<EMAIL_1>`,
`<CPF_2>`; the same value always gets the same placeholder. A placeholder that the text already
contains (a user writing `<EMAIL_1>` literally) is never issued, so restoring cannot turn the
user's own text into a value.

`restore` puts the values back into a complete text. `StreamRestorer` does it for a stream of
text pieces, where a placeholder may be split between two pieces: it holds back a piece's tail
that could still become a placeholder, and releases it with the next piece or at the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from router.privacy.detectors import find_spans
from router.privacy.scan_work import ScanWork

PLACEHOLDER = re.compile(r"<([A-Z]+)_(\d+)>")
# The placeholders a text holds that this redactor could issue: a kind's name (6 letters at
# most) and a number. Bounded, so that they are found a slice at a time (`ScanWork`); one longer
# is never issued, so it need not be reserved.
_ISSUABLE = re.compile(r"<[A-Z]{1,6}_\d{1,20}>")
_ISSUABLE_REACH = 29
# The longest a placeholder can be: "<" + kind + "_" + digits + ">".
_LONGEST_PLACEHOLDER = 24


@dataclass(slots=True)
class Redactor:
    placeholder_of: dict[str, str] = field(default_factory=dict)  # value -> placeholder
    value_of: dict[str, str] = field(default_factory=dict)  # placeholder -> value
    kinds: set[str] = field(default_factory=set)  # the kinds found
    _counts: dict[str, int] = field(default_factory=dict)
    _reserved: set[str] = field(default_factory=set)  # placeholders the text itself contains

    def redact(self, text: str) -> str:
        """`text` with every PII value replaced by its placeholder."""
        work = ScanWork()
        findings = find_spans(text, work)
        if "<" in text:
            found = work.finditer(_ISSUABLE, text, 0, len(text), _ISSUABLE_REACH)
            self._reserved.update(m.group() for m in found)
        pieces: list[str] = []
        last = 0
        for start, end, kind in findings:
            pieces.append(text[last:start])
            pieces.append(self._placeholder(kind, text[start:end]))
            last = end
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    def conceal(self, text: str) -> str:
        """`text` with every value this redactor knows replaced by its placeholder, wherever it
        is (an answer that repeats the request's values), without detecting anything new."""
        # Longest first: a value inside a longer one must not break the longer one's replacement.
        for value in sorted(self.placeholder_of, key=len, reverse=True):
            if value in text:
                text = text.replace(value, self.placeholder_of[value])
        return text

    def restore(self, text: str) -> str:
        """`text` with every placeholder this redactor issued replaced by its value."""
        if not self.value_of or "<" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: self.value_of.get(m.group(), m.group()), text)

    def _placeholder(self, kind: str, value: str) -> str:
        issued = self.placeholder_of.get(value)
        if issued is not None:
            return issued
        self.kinds.add(kind)
        kind = kind.upper()
        number = self._counts.get(kind, 0)
        while True:
            number += 1
            placeholder = f"<{kind}_{number}>"
            if placeholder not in self._reserved:
                break
        self._counts[kind] = number
        self.placeholder_of[value] = placeholder
        self.value_of[placeholder] = value
        return placeholder


class StreamRestorer:
    """Restores placeholders across the pieces of a stream (one per choice)."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._held = ""

    def feed(self, piece: str) -> str:
        """What can be sent now: the held tail and `piece`, restored, minus a new tail that may
        still be the start of a placeholder."""
        text = self._held + piece
        cut = _possible_placeholder_start(text)
        self._held = text[cut:]
        return self._redactor.restore(text[:cut])

    @property
    def holding(self) -> bool:
        """Whether a tail is held back (a piece of text not yet released)."""
        return bool(self._held)

    def flush(self) -> str:
        """The held tail, at the end of the stream."""
        text, self._held = self._held, ""
        return self._redactor.restore(text)


def _possible_placeholder_start(text: str) -> int:
    """Where an unfinished placeholder may begin at the end of `text` (len(text) if nowhere)."""
    start = text.rfind("<", max(0, len(text) - _LONGEST_PLACEHOLDER))
    if start < 0:
        return len(text)
    tail = text[start:]
    if ">" in tail:
        return len(text)  # closed: restored now, whole
    return start if _PARTIAL.fullmatch(tail) else len(text)


_PARTIAL = re.compile(r"<(?:[A-Z]+(?:_\d*)?)?")
