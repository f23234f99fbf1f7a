"""Private keys: PEM blocks (PKCS#1 RSA, SEC1 EC, DSA, PKCS#8 `PRIVATE KEY` and `ENCRYPTED
PRIVATE KEY`, OpenSSH, PGP `PRIVATE KEY BLOCK`), each one value from `-----BEGIN` to its
`-----END ...-----`.

A block is found however it is laid out: indented under a YAML key, with literal `\\n` escapes
(JSON inside the text), or split across messages, since each message is scanned alone:
- a BEGIN with its END further on: the whole block, whatever lies between;
- a BEGIN with no END in this text: through the last base64 line that follows it;
- an END with no BEGIN: from the first base64 line of the run before it.
Certificates and public keys (`BEGIN CERTIFICATE`, `BEGIN PUBLIC KEY`) are no secrets.

One pass over the text's "-----BEGIN " and "-----END " markers, each found once (`_Markers`);
the base64 lines around a half block are read once each, so the work follows the text's length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from router.privacy.scan_work import ScanWork, Span

_BEGIN = "-----BEGIN "
_END = "-----END "
_LABEL = r"(?:[A-Z0-9]{1,10} ){0,2}PRIVATE KEY(?: BLOCK)?"
_HEADER = re.compile(rf"-----BEGIN (?P<label>{_LABEL})-----")
_FOOTER = re.compile(rf"-----END {_LABEL}-----")
_MARKER_REACH = 64
# Between two lines of a block: a line break, real or written `\n`, and indentation.
_LINE_BREAK = re.compile(r"(?:[ \t]{0,16}(?:\r?\n|\\r\\n|\\n)){1,3}[ \t]{0,16}")
_LINE_BREAK_REACH = 80
# The armour headers of encrypted PEM (RFC 1421) and PGP blocks, each on its own line.
_ARMOUR_HEADER = re.compile(r"(?:Proc-Type|DEK-Info|Version|Comment|Hash|Charset): ")
_REST_OF_LINE = re.compile(r"[^\r\n\\]+")
_BASE64_CHARS = re.compile(r"[A-Za-z0-9+/=]+")
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_LONGEST_LINE = 128  # base64 lines of PEM are 64 characters, OpenSSH's 70, PGP's 76
_SHORTEST_FULL_LINE = 60  # lines of 64 (PEM), 70 (OpenSSH) or 76 (PGP) characters
_SHORTEST_FIRST_RUN = 8  # the tail of a line that holds other text before its base64


class _Markers:
    """The next "-----BEGIN " or "-----END " at or after a place, each found once however often
    it is asked for (a place asked for only moves forward)."""

    __slots__ = ("found", "marker", "text")

    def __init__(self, text: str, marker: str) -> None:
        self.text, self.marker, self.found = text, marker, -2

    def next_at(self, pos: int) -> int:
        if self.found != -1 and self.found < pos:
            self.found = self.text.find(self.marker, pos)
        return self.found


def private_keys(text: str, work: ScanWork) -> Iterator[Span]:
    if "-----" not in text:
        return
    begins, ends = _Markers(text, _BEGIN), _Markers(text, _END)
    pos = floor = 0  # floor: where the last block ended
    while True:
        begin, end = begins.next_at(pos), ends.next_at(pos)
        work.steps += 1
        if end >= 0 and (begin < 0 or end < begin):  # an END with no BEGIN before it
            footer = work.match(_FOOTER, text, end, _MARKER_REACH)
            pos = end + len(_END)
            if footer is not None and (start := _body_start(text, end, floor, work)) is not None:
                pos = floor = _after_escaped_newline(text, footer.end())
                yield start, pos
            continue
        if begin < 0:
            return
        header = work.match(_HEADER, text, begin, _MARKER_REACH)
        if header is None:
            pos = begin + len(_BEGIN)
            continue
        end, next_begin = ends.next_at(header.end()), begins.next_at(header.end())
        footer_text = f"-----END {header.group('label')}-----"
        if end >= 0 and (next_begin < 0 or end < next_begin) and text.startswith(footer_text, end):
            stop = _after_escaped_newline(text, end + len(footer_text))
        else:
            stop = _body_end(text, header.end(), work)
        work.steps += stop - begin
        yield begin, stop
        pos = floor = stop


def _after_escaped_newline(text: str, pos: int) -> int:
    """A block's own last line break, when written `\\n` (JSON inside the text), is part of
    the value as written: an escaped string ends with it."""
    for escape in ("\\n", "\\r\\n"):
        if text.startswith(escape, pos):
            return pos + len(escape)
    return pos


def _body_end(text: str, pos: int, work: ScanWork) -> int:
    """Where the base64 lines (and armour headers) after a BEGIN line end: a block's lines are
    all full but its last, so a short line ends it (the word after a half block is no line)."""
    last = pos
    while True:
        line_break = work.match(_LINE_BREAK, text, pos, _LINE_BREAK_REACH)
        if line_break is None:
            return last
        line = line_break.end()
        if work.match(_ARMOUR_HEADER, text, line, _MARKER_REACH) is not None:
            pos = work.run_end(_REST_OF_LINE, text, line)
            continue
        pos = work.run_end(_BASE64_CHARS, text, line)
        if pos == line:
            return last
        work.steps += pos - line
        last = pos
        if pos - line < _SHORTEST_FULL_LINE:
            return last


def _body_start(text: str, end: int, floor: int, work: ScanWork) -> int | None:
    """Where the base64 lines before an END line start, no earlier than `floor`; None when the
    END follows no base64 line."""
    start, pos = None, end
    while True:
        line_end = _before_line_break(text, pos, floor)
        if line_end is None:
            return start
        pos = line_end
        window = max(floor, pos - _LONGEST_LINE)
        line_start = window  # no line break in reach: a long line, or the floor
        if (newline := text.rfind("\n", window, pos)) >= 0:
            line_start = newline + 1
        if (escaped := text.rfind("\\n", window, pos)) >= 0:
            line_start = max(line_start, escaped + 2)
        work.steps += pos - line_start
        line = text[line_start:pos]
        stripped = line.strip(" \t")
        if stripped and _BASE64.issuperset(stripped) and (line_start > window or window == floor):
            start = line_start + line.index(stripped[0])
            pos = line_start
            continue
        run = len(line) - len(line.rstrip(" \t"))
        tail = len(line) - run
        head = tail
        while head > 0 and line[head - 1] in _BASE64:
            head -= 1
        if tail - head >= _SHORTEST_FIRST_RUN:
            start = line_start + head
        return start


def _before_line_break(text: str, pos: int, floor: int) -> int | None:
    """The end of the line before the one at `pos` (which may be indented), or None when no
    line break precedes it."""
    while pos > floor and text[pos - 1] in " \t":
        pos -= 1
    if pos > floor and text[pos - 1] == "\n":
        pos -= 2 if pos - 1 > floor and text[pos - 2] == "\r" else 1
    elif pos - 1 > floor and text[pos - 2 : pos] == "\\n":
        pos -= 4 if text[pos - 4 : pos - 2] == "\\r" and pos - 3 > floor else 2
    else:
        return None
    while pos > floor and text[pos - 1] in " \t":
        pos -= 1
    return pos
