"""Reversible redaction: PII values replaced by stable placeholders before a request leaves, and
restored in the answer before the client sees it.

A `Redactor` belongs to one request (and its conversation: every message is redacted with the
same one). Each distinct value gets a placeholder naming its kind and its order, `<EMAIL_1>`,
`<CPF_2>`; the same value always gets the same placeholder. A placeholder that the text already
contains (a user writing `<EMAIL_1>` literally) is never issued, so restoring cannot turn the
user's own text into a value.

`restore` puts the values back into a complete text. `restore_in_json` does it in JSON source (a
tool call's arguments, where the model writes a placeholder inside a string literal): each value
goes in as the inside of a JSON string, so a quote, a backslash or a PEM block's newlines cannot
break the client's `json.loads`. A value that already reads as the inside of a JSON string goes
in as it is: it was found written escaped, in JSON source (a key with `\\n` escapes in an
earlier tool call of the conversation), and escaping it again would hand the client backslashes.
A value from prose that happens to read so (`a\\tb`, with no newline or quote) is taken the same
way.

`StreamRestorer` does either for a stream of text pieces, where a placeholder may be split
between two pieces: it holds back a piece's tail that could still become a placeholder, and
releases it with the next piece or at the end.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

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

    def restore_in_json(self, text: str) -> str:
        """`text`, JSON source, with every placeholder this redactor issued replaced by its value
        as the inside of a JSON string."""
        if not self.value_of or "<" not in text:
            return text
        return PLACEHOLDER.sub(self._restored_in_json, text)

    def _restored_in_json(self, match: re.Match[str]) -> str:
        value = self.value_of.get(match.group())
        return match.group() if value is None else _inside_json_string(value)

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
    """Restores placeholders across the pieces of a stream (one per text): `in_json` for pieces
    of JSON source (a tool call's arguments)."""

    def __init__(self, redactor: Redactor, *, in_json: bool = False) -> None:
        self._restore: Callable[[str], str] = (
            redactor.restore_in_json if in_json else redactor.restore
        )
        self._held = ""

    def feed(self, piece: str) -> str:
        """What can be sent now: the held tail and `piece`, restored, minus a new tail that may
        still be the start of a placeholder."""
        text = self._held + piece
        cut = _possible_placeholder_start(text)
        self._held = text[cut:]
        return self._restore(text[:cut])

    @property
    def holding(self) -> bool:
        """Whether a tail is held back (a piece of text not yet released)."""
        return bool(self._held)

    def flush(self) -> str:
        """The held tail, at the end of the stream."""
        text, self._held = self._held, ""
        return self._restore(text)


def _inside_json_string(value: str) -> str:
    """`value` as it goes between the quotes of a JSON string: as it is if it already reads so,
    else encoded (`"`, `\\` and control characters escaped)."""
    encoded = orjson.dumps(value)[1:-1].decode()
    if encoded == value:
        return value  # nothing to escape: the common case
    try:
        orjson.loads(f'"{value}"')
    except orjson.JSONDecodeError:
        return encoded
    return value  # written escaped already


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
