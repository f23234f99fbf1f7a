"""PII detectors: where in a text each kind of personal or secret value is, checked where the
value has check digits.

Kinds: `email`, `phone` (international, Brazilian and North American formats, possible numbers
by phonenumbers), `card` (12–19 digits in issuers' ranges, Luhn), `iban` (the registry's
structure and mod 97-10), `ip` (IPv4, IPv6), `ssn` (US, by stdnum's rules), `cpf` and `cnpj`
(Brazil, check digits by stdnum), and `secret` (private keys, vendor keys and bearer tokens by
their published shapes, URL and connection-string passwords, values assigned to secret names:
router/privacy/secret_detectors.py). router/privacy/checksums.py has the validation by libraries.

Each kind is a compiled regular expression and a validator, run only where a cheap scan shows
the kind can start: secrets at their markers (secret_detectors.py), e-mail addresses
around an `@`, IBANs where two capitals are followed by two digits, IPv6 addresses around a
colon, and the numeric kinds (router/privacy/numeric_detectors.py) inside runs of digits and
separators (one scan of the text), each only in a run that has what its values need (a CNPJ 14
digits, an SSN 9). The issue asks for detection and redaction of a 1 KB prompt within
0.2 ms; docs/benchmarks.md has the times.
Whatever the text, the work grows in proportion to it (`ScanWork`): each pattern does a bounded
amount of work from each place it is tried, and each place is tried a bounded number of times.
And no single call holds the GIL long: each pattern is called on one slice of the text at a time
(`router.privacy.scan_work`), values of no longest length (a secret's tail, an e-mail's domain, a
run of digit groups) followed a slice at a time, with the findings of one call over the whole.
Overlapping findings are resolved by kind, most specific first (`KIND_ORDER`): a CNPJ's 14
digits are not also reported as a card, nor a card's digits as a phone. docs/privacy.md has the
precision and recall measured on a labelled set.

A value glued to letters ("cpf529.982.247-25", "xDE89370400440532013000y", "tel+55 11
91234-5678ok", "abcalice@example.comxyz") is still found: for the numeric kinds only a digit next
to a value ends it, since letters say nothing about where a number starts. The exceptions, where
letters do say it:
- an IBAN after a capital letter ("ABDE89…" may be a longer code);
- a phone glued to a word unless it is written as phones are, and an area code after a capital
  letter (`_PHONE` says which);
- a secret after a letter or a hyphen ("task-force-…" holds "sk-"); a secret followed by letters
  is found with them, since where it ends cannot be told;
- IPv6 next to letters, since its hex digits are letters ("std::map", "cafe:be::ef"), but for
  its full form of eight groups.
"""

from __future__ import annotations

import heapq
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from router.privacy.checksums import iban_length, iban_valid
from router.privacy.credentials import ends_url_userinfo
from router.privacy.numeric_detectors import (
    NUMERIC_DETECTORS,
    NUMERIC_FEWEST_DIGITS,
    NUMERIC_FEWEST_DOTS,
    NUMERIC_RUN,
    PHONE_FEWEST_DIGITS,
    numeric_counts,
    numeric_runs,
    phones,
)
from router.privacy.scan_work import SORTED_AT_ONCE, ScanWork, Span, byte_classes
from router.privacy.secret_detectors import secret_spans

# Most specific first: where two findings overlap, the earlier kind wins.
KIND_ORDER = ("secret", "email", "iban", "cnpj", "cpf", "card", "ssn", "ip", "phone")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int

    def value(self, text: str) -> str:
        return text[self.start : self.end]


class _Taken:
    """The findings so far. A new one is kept only if it overlaps none of them: detectors run
    in KIND_ORDER, so the more specific kind wins. Which characters are taken is kept in a
    bytearray as long as the text, so a test costs the length of the span tested, however many
    findings there are (a sorted list with insertions costs their number each time)."""

    __slots__ = ("owned", "sequences")

    def __init__(self, length: int) -> None:
        self.owned = bytearray(length)  # 1 where a finding is
        # The findings of each kind in order of position; IPv6 addresses apart from IPv4 ones.
        self.sequences: dict[str, list[tuple[int, int, str]]] = {}

    def keep(
        self, kind: str, spans: Iterable[Span], work: ScanWork, sequence: str | None = None
    ) -> None:
        kept = self.sequences.setdefault(sequence or kind, [])
        for start, end in spans:
            work.steps += end - start
            if self.owned.find(1, start, end) < 0:
                self.owned[start:end] = _OWNED * (end - start)
                kept.append((start, end, kind))

    def covers(self, start: int, end: int) -> bool:
        return self.owned.find(0, start, end) < 0

    def gaps(self, pos: int, endpos: int) -> list[Span]:
        """The parts of [pos, endpos) that no finding covers."""
        free = []
        while (start := self.owned.find(0, pos, endpos)) >= 0:
            pos = self.owned.find(1, start, endpos)
            if pos < 0:
                pos = endpos
            free.append((start, pos))
        return free

    def findings(self) -> Iterable[tuple[int, int, str]]:
        """All of them in order of position. Many are merged from the sequences in Python, in
        linear time: one sort of 50,000 findings is one call of 10 ms that holds the GIL
        (scan_work.py says why that matters). A few are sorted, faster."""
        if sum(map(len, self.sequences.values())) <= SORTED_AT_ONCE:
            return sorted(finding for kept in self.sequences.values() for finding in kept)
        return heapq.merge(*self.sequences.values())


_OWNED = b"\x01"


def detect(text: str, work: ScanWork | None = None) -> list[Finding]:
    """Every PII value in `text`, in order, none overlapping another; the scan's steps are added
    to `work` when one is given."""
    return [Finding(kind, start, end) for start, end, kind in find_spans(text, work)]


def find_spans(text: str, work: ScanWork | None = None) -> Iterable[tuple[int, int, str]]:
    """`detect`'s findings as (start, end, kind), in order (the scan is done by then). The
    redactor takes these: 50,000 `Finding`s of a 1 MB body reached the garbage collector's
    oldest generation and set off full collections of 13 ms and more, each holding the GIL
    (scan_work.py says why that matters), where tuples of numbers leave the collector's view at
    its next young collection."""
    if not text:
        return ()
    if work is None:
        work = ScanWork()
    taken = _Taken(len(text))
    work.steps += len(text)  # the scans for hints, "@" and numeric runs below
    taken.keep("secret", secret_spans(text, work), work)
    if "@" in text or _ESCAPED_AT in text:
        taken.keep("email", _emails(text, work), work)
    taken.keep("iban", _ibans(text, work), work)
    if work.fits_one_call(text, 0, len(text)):  # most texts: the pattern itself, faster
        runs = [
            (max(0, m.start() - 1), m.end() + 1, *numeric_counts(m.group()))
            for m in NUMERIC_RUN.finditer(text)
        ]
    else:
        runs = list(numeric_runs(text, work))
    for pos, endpos, digits, _, dots in runs:
        work.steps += len(NUMERIC_DETECTORS) * (endpos - pos)
        if digits < NUMERIC_FEWEST_DIGITS and dots < NUMERIC_FEWEST_DOTS:
            continue  # most runs (dates, prices): no kind but phones to look for
        for kind, fewest_digits, fewest_dots, detector in NUMERIC_DETECTORS:
            if (
                digits >= fewest_digits
                and dots >= fewest_dots
                and not taken.covers(pos + 1, endpos - 1)
            ):
                taken.keep(kind, detector(text, pos, endpos, work), work)
    if "::" in text or _holds(text, ":", 7, work):
        taken.keep("ip", _ipv6(text, work), work, sequence="ipv6")
    for pos, endpos, digits, _, _ in runs:  # last, and only between what the other kinds took
        if digits >= PHONE_FEWEST_DIGITS:
            work.steps += endpos - pos
            for free_pos, free_end in taken.gaps(pos, endpos):
                taken.keep("phone", phones(text, free_pos, free_end, work), work)
    return taken.findings()


def _holds(text: str, char: str, count: int, work: ScanWork) -> bool:
    """Whether `text` holds `char` `count` times: past one slice, `count` finds (memchr, 30 µs a
    megabyte), not `str.count` (3 ms a megabyte in one call)."""
    if work.fits_one_call(text, 0, len(text)):
        return text.count(char) >= count
    pos = -1
    for _ in range(count):
        pos = text.find(char, pos + 1)
        if pos < 0:
            return False
    return True


# E-mail: around each "@", the local part read backwards (from a letter or digit) and the domain
# forwards. Letters glued before an address join its local part, and ASCII letters glued after
# it its top-level domain (which has no longest length for that reason). A digit or a non-ASCII
# letter after the top-level domain ends it; "_" or "-" there say it is no address.
_EMAIL_LOCAL_REVERSED = re.compile(r"[\w.%+-]*[^\W_]")
_EMAIL_LOCAL_WINDOW = 256  # four times RFC 5321's longest local part
# The domain: labels, then the top-level domain. Past one slice, read label by label
# (`_email_domain_end`), since a label has no longest length here either.
_EMAIL_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,}(?![A-Za-z_-])"
)
_DOMAIN_CHARS = re.compile(r"[A-Za-z0-9.-]*")
_LABEL_CHARS = re.compile(r"[A-Za-z0-9-]+")
_LETTERS = re.compile(r"[A-Za-z]+")
_ALPHANUMERIC = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_SHORTEST_TOP_LEVEL = 2


# "@" as JSON escapes it, in text that holds JSON (a tool's arguments, a pasted payload): the
# value is redacted as written there, escape and all, at any depth of nesting (`\\u0040`).
_ESCAPED_AT = "\\u0040"


def _emails(text: str, work: ScanWork) -> Iterator[Span]:
    """Neither part holds an "@" (or its escape): the local part is read back no further than
    the one before, and each domain stops at the next, so each stretch between two is read
    about once."""
    at_signs = _AtSigns(text)
    (at, after), before = at_signs.next_from(0), -1
    while at >= 0:
        window_start = max(0, at - _EMAIL_LOCAL_WINDOW, before + 1)
        work.steps += 1 + at - window_start
        reversed_local = text[window_start:at][::-1]
        local = work.match(_EMAIL_LOCAL_REVERSED, reversed_local, 0, _EMAIL_LOCAL_WINDOW)
        before = after - 1
        if (
            local is not None
            and not ends_url_userinfo(text, at)
            and (domain_end := _email_domain_end(text, after, work)) is not None
        ):
            yield at - local.end(), domain_end
            after = domain_end
        at, after = at_signs.next_from(after)


class _AtSigns:
    """The next "@" or `\\u0040` of a text, each kind found once past a position (a `find`
    for both at every step would read the text again for the rarer one)."""

    __slots__ = ("escaped", "plain", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.plain = self.escaped = -2  # not looked for yet

    def next_from(self, pos: int) -> tuple[int, int]:
        """Where the next one at or after `pos` starts and ends; (-1, -1) when none is left."""
        if -1 < self.plain < pos or self.plain == -2:
            self.plain = self.text.find("@", pos)
        if -1 < self.escaped < pos or self.escaped == -2:
            self.escaped = self.text.find(_ESCAPED_AT, pos)
        if self.plain < 0 and self.escaped < 0:
            return -1, -1
        if self.escaped < 0 or 0 <= self.plain < self.escaped:
            return self.plain, self.plain + 1
        # JSON inside JSON inside text escapes the escape: `\\u0040` is an "@" two levels down.
        # The backslashes before this one belong to it alone, so each is read once.
        start = self.escaped
        while start > pos and self.text[start - 1] == "\\":
            start -= 1
        return start, self.escaped + len(_ESCAPED_AT)


def _email_domain_end(text: str, pos: int, work: ScanWork) -> int | None:
    """Where the domain at `pos` ends: after the top-level domain of the most labels. Each label
    is a whole run of `[A-Za-z0-9-]` that starts and ends with a letter or digit and is followed
    by "."; the top-level domain is the letters that start the run after the last label's ".",
    two at least, not followed by "_" or "-" (greedy, the pattern gives back no letter: then a
    letter would follow it)."""
    # The pattern itself where it reads one slice at most (no further than the character after
    # the run of the domain's characters), faster.
    if work.fits_one_call(text, pos, len(text)):
        domain = _EMAIL_DOMAIN.match(text, pos)
        return None if domain is None else domain.end()
    stretch = work.match(_DOMAIN_CHARS, text, pos, work.slice_chars)
    stretch_end = pos if stretch is None else stretch.end()
    if stretch_end < pos + work.slice_chars:
        domain = _EMAIL_DOMAIN.match(text, pos, stretch_end + 1)
        return None if domain is None else domain.end()
    end, labels = None, 0
    while True:
        label_end = work.run_end(_LABEL_CHARS, text, pos)
        if labels:
            letters_end = work.run_end(_LETTERS, text, pos)
            after = text[letters_end : letters_end + 1]
            if letters_end - pos >= _SHORTEST_TOP_LEVEL and after not in ("_", "-"):
                end = letters_end
        if (
            label_end == pos
            or text[pos] not in _ALPHANUMERIC
            or text[label_end - 1] not in _ALPHANUMERIC
            or not text.startswith(".", label_end)
        ):
            return end
        labels += 1
        pos = label_end + 1


# An IBAN starts with two capitals (not after a third, nor after a digit) and two digits.
_IBAN = re.compile(r"[A-Z](?<![A-Z0-9].)[A-Z]\d{2}(?: ?[A-Z0-9]){11,30}")
_IBAN_REACH = 64
_IBAN_HEAD_CLASSES = byte_classes(A="ABCDEFGHIJKLMNOPQRSTUVWXYZ", **{"0": "0123456789"})


def _ibans(text: str, work: ScanWork) -> Iterator[Span]:
    """A candidate is at most 64 characters long, and each place is tried as a start once.
    An IBAN starts with two ASCII capitals and two digits: most texts have none, told by
    `lacks` in 2 µs, while the pattern is tried at each capital (9 µs for the benchmark's
    1 KB prompts)."""
    if work.lacks(text, _IBAN_HEAD_CLASSES, b"AA00"):
        return
    pos = 0
    while (match := work.search(_IBAN, text, pos, len(text), _IBAN_REACH)) is not None:
        pos = match.start() + 1  # an IBAN-like code that is not one: look on from its 2nd char
        candidate = match.group()
        work.steps += len(candidate)
        length = iban_length(candidate[:2])
        if length is None:
            continue
        # Take exactly the country's length of characters (spaces skipped), so that words
        # after the IBAN are not swallowed.
        taken, end = 0, 0
        for char in candidate:
            end += 1
            if char != " ":
                taken += 1
                if taken == length:
                    break
        compact = candidate[:end].replace(" ", "")
        if taken == length and iban_valid(compact):
            yield match.start(), match.start() + end
            pos = match.start() + end  # the next IBAN may follow at once


_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
# Glued to letters, only the full form: eight groups of one to four hex digits, the last taking
# four at most of the letters after it. "std::map", "a::b" and times have fewer.
_IPV6_GLUED = re.compile(r"(?<![:.])[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){7}(?![:.][0-9A-Fa-f])")
_HEX_DIGITS = "0123456789abcdefABCDEF"
# An address is at most 39 characters, and the glued pattern's lookahead reads two past it: a
# window that ended sooner let the lookahead pass at its edge, so a 1-character slice found
# `…:99dd` where the whole text found `…:99d` (`…:99dd:0`).
_IPV6_REACH = 41
_IPV6_GROUPS = 8


def _ipv6(text: str, work: ScanWork) -> Iterator[Span]:
    """An address starts at most four hex digits before its first colon: each colon is tried
    from there (a scan for the pattern itself would try every position of the text), and a
    match is at most 39 characters (`_IPV6_REACH` says what the patterns read)."""
    colon = text.find(":")
    while colon >= 0:
        work.steps += 1
        head = text[max(0, colon - 4) : colon]
        start = colon - len(head) + len(head.rstrip(_HEX_DIGITS))
        match = work.match(_IPV6, text, start, _IPV6_REACH)
        if match is None or not _is_ipv6(match.group()):
            match = work.match(_IPV6_GLUED, text, start, _IPV6_REACH)
        if match is None or not _is_ipv6(match.group()):
            colon = text.find(":", colon + 1)
            continue
        yield match.span()
        colon = text.find(":", match.end())


def _is_ipv6(candidate: str) -> bool:
    if not any(c.isalnum() for c in candidate):
        return False  # "::" alone, as in C++ or Rust paths
    if "::" not in candidate and candidate.count(":") != _IPV6_GROUPS - 1:
        # Without "::" (nor a dotted tail, which the patterns do not take) an address has all
        # eight groups: times ("10:30:00") are refused here, not by `ipaddress` raising (2 µs).
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True
