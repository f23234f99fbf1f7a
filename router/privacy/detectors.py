"""PII detectors: where in a text each kind of personal or secret value is, checked where the
value has check digits.

Kinds: `email`, `phone` (international and Brazilian formats), `card` (13–19 digits, Luhn),
`iban` (country length and mod-97), `ip` (IPv4, IPv6), `ssn` (US, with the SSA's invalid ranges
refused), `cpf` and `cnpj` (Brazil, check digits) and `secret` (API keys and bearer tokens by
their published shapes).

Each kind is a compiled regular expression and a validator, run only where a cheap scan shows
the kind can start: secrets at their vendors' prefixes and after "bearer", e-mail addresses
around an `@`, IBANs where two capitals are followed by two digits, IPv6 addresses around a
colon, and the numeric kinds inside runs of digits and separators (one scan of the text), each
only in a run that has what its values need (a CNPJ 14 digits, an SSN a hyphen). The issue asks
for detection and redaction of a 1 KB prompt within 0.2 ms; docs/benchmarks.md has the times.
Whatever the text, the work grows in proportion to it (`ScanWork`): each pattern does a bounded
amount of work from each place it is tried, and each place is tried a bounded number of times.
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
- IPv6 next to letters, since its hex digits are letters ("std::map", "cafe:be::ef").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from router.privacy.checksums import (
    IBAN_LENGTHS,
    cnpj_valid,
    cpf_valid,
    iban_valid,
    luhn_valid,
    ssn_valid,
)

# Most specific first: where two findings overlap, the earlier kind wins.
KIND_ORDER = ("secret", "email", "iban", "cnpj", "cpf", "card", "ssn", "ip", "phone")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int

    def value(self, text: str) -> str:
        return text[self.start : self.end]


Span = tuple[int, int]


class ScanWork:
    """The work of one scan, in steps: a character handed to a regular expression that scans a
    stretch of text, or a candidate looked at (a match tried from a hint, a combination of digit
    groups, a check-digit test). Every pattern here does a bounded amount of work from each
    place it is tried, so a scan's time is in proportion to its steps; and the steps grow in
    proportion to the text (tests/privacy/test_scan_is_linear.py holds them to it). Counting
    costs one addition per candidate, against the match or check digits it counts."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps = 0


# A detector yields the spans of its kind's values in text[pos:endpos], adding its work.
Detector = Callable[[str, int, int, ScanWork], Iterator[Span]]


class _Taken:
    """The findings so far. A new one is kept only if it overlaps none of them: detectors run
    in KIND_ORDER, so the more specific kind wins. Which characters are taken is kept in a
    bytearray as long as the text, so a test costs the length of the span tested, however many
    findings there are (a sorted list with insertions costs their number each time)."""

    __slots__ = ("by_kind", "owned")

    def __init__(self, length: int) -> None:
        self.owned = bytearray(length)  # 1 where a finding is
        self.by_kind: dict[str, list[tuple[int, int, str]]] = {}  # each in order of position

    def keep(self, kind: str, spans: Iterable[Span], work: ScanWork) -> None:
        kept = self.by_kind.setdefault(kind, [])
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

    def findings(self) -> list[tuple[int, int, str]]:
        """All of them in order of position: each kind's come in order (IPv4 and IPv6 addresses
        in two runs), so the sort merges a few runs (Timsort finds them) in linear time."""
        return sorted(finding for kept in self.by_kind.values() for finding in kept)


_OWNED = b"\x01"


def detect(text: str, work: ScanWork | None = None) -> list[Finding]:
    """Every PII value in `text`, in order, none overlapping another; the scan's steps are added
    to `work` when one is given."""
    if not text:
        return []
    if work is None:
        work = ScanWork()
    taken = _Taken(len(text))
    work.steps += len(text)  # the scans for hints, "@" and numeric runs below
    taken.keep("secret", _secrets(text, work), work)
    if "@" in text:
        taken.keep("email", _emails(text, work), work)
    taken.keep("iban", _ibans(text, work), work)
    # Each numeric run with one character of context either side, for the look-arounds, and
    # its count of digits.
    runs = [
        (max(0, m.start() - 1), m.end() + 1, m.group(), _digit_count(m.group()))
        for m in _NUMERIC_RUN.finditer(text)
    ]
    for pos, endpos, run, digits in runs:
        for kind, possible, detector in _NUMERIC_DETECTORS:
            work.steps += endpos - pos
            if possible(run, digits) and not taken.covers(pos + 1, endpos - 1):
                taken.keep(kind, detector(text, pos, endpos, work), work)
    if "::" in text or text.count(":") >= 7:
        taken.keep("ip", _ipv6(text, work), work)
    for pos, endpos, _, digits in runs:  # last, and only between what the other kinds took
        if digits >= _PHONE_FEWEST_DIGITS:
            work.steps += endpos - pos
            for free_pos, free_end in taken.gaps(pos, endpos):
                taken.keep("phone", _phones(text, free_pos, free_end, work), work)
    return [Finding(kind, start, end) for start, end, kind in taken.findings()]


# Where a numeric value can be: a run of digits with the separators numbers are written with,
# seven characters or more (a "+" or "(" before it is in the context detect() adds). ASCII
# digits: the check digits are computed on them, and the scan is twice as fast as one testing
# every character against Unicode's digits.
_NUMERIC_RUN = re.compile(r"[0-9][0-9 ()./-]{5,}[0-9]")


def _digit_count(run: str) -> int:
    return sum(map(str.isdigit, run))


def _digits(value: str) -> str:
    return _NON_DIGIT.sub("", value)


_NON_DIGIT = re.compile(r"\D")


# Secrets: a scan for the rarest character of each vendor's prefix ("-", "_", "A", "J") and
# for "bearer" in any case, which prose has few of, where it has an "s" or an "e" (the prefixes'
# first letters) in most words: a third of the time of a scan for the prefixes. From each hint,
# the whole shape is matched from where its prefix starts.
_SECRET_HINT = re.compile(
    r"-(?<=sk-)(?P<sk>)"
    r"|-(?<=xox[abprs]-)(?P<xox>)"
    r"|_(?<=gh[pousr]_)(?P<gh>)"
    r"|_(?<=github_)(?P<github>)"
    r"|A(?=KIA|Iza)(?P<aws_google>)"
    r"|J(?<=eyJ)(?P<jwt>)"
    r"|b(?i:earer)(?P<bearer>)|B(?i:earer)(?P<Bearer>)"
)
_PREFIX_BEFORE_HINT = {"sk": 2, "xox": 4, "gh": 3, "github": 6, "aws_google": 0, "jwt": 2}
_SECRET_KEY = re.compile(
    r"(?<![\w-])(?:"
    r"sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r")[\w-]*"  # letters glued after it are taken with it
)
_BEARER_TOKEN = re.compile(r"\s+([A-Za-z0-9._~+/-]{20,}=*[\w-]*)")


def _secrets(text: str, work: ScanWork) -> Iterator[Span]:
    """Each hint is tried once, and the shape matched from it stops at the end of its word
    (a JWT's, at the end of its third part) or after a bounded look."""
    pos = 0
    while (hint := _SECRET_HINT.search(text, pos)) is not None:
        work.steps += 1
        span = _secret_at(text, hint)
        if span is None:
            pos = hint.start() + 1
        else:
            yield span
            pos = span[1]


def _secret_at(text: str, hint: re.Match[str]) -> Span | None:
    prefix = hint.lastgroup or ""  # every branch of the hint ends with its prefix's group
    if prefix in ("bearer", "Bearer"):
        token = _BEARER_TOKEN.match(text, hint.end())
        return None if token is None else token.span(1)
    key = _SECRET_KEY.match(text, hint.start() - _PREFIX_BEFORE_HINT[prefix])
    return None if key is None else key.span()


# E-mail: around each "@", the local part read backwards (from a letter or digit) and the domain
# forwards. Letters glued before an address join its local part, and ASCII letters glued after
# it its top-level domain (which has no longest length for that reason). A digit or a non-ASCII
# letter after the top-level domain ends it; "_" or "-" there say it is no address.
_EMAIL_LOCAL_REVERSED = re.compile(r"[\w.%+-]*[^\W_]")
_EMAIL_LOCAL_WINDOW = 256  # four times RFC 5321's longest local part
_EMAIL_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,}(?![A-Za-z_-])"
)


def _emails(text: str, work: ScanWork) -> Iterator[Span]:
    """Neither part holds an "@": the local part is read back no further than the "@" before,
    and each domain stops at the next, so each stretch between two is read about once."""
    at, before = text.find("@"), -1
    while at >= 0:
        after = at + 1
        window_start = max(0, at - _EMAIL_LOCAL_WINDOW, before + 1)
        work.steps += 1 + at - window_start
        local = _EMAIL_LOCAL_REVERSED.match(text[window_start:at][::-1])
        if local is not None and (domain := _EMAIL_DOMAIN.match(text, after)) is not None:
            yield at - local.end(), domain.end()
            after = domain.end()
        at, before = text.find("@", after), at


# An IBAN starts with two capitals (not after a third, nor after a digit) and two digits.
_IBAN = re.compile(r"[A-Z](?<![A-Z0-9].)[A-Z]\d{2}(?: ?[A-Z0-9]){11,30}")


def _ibans(text: str, work: ScanWork) -> Iterator[Span]:
    """A candidate is at most 64 characters long, and each place is tried as a start once."""
    pos = 0
    while (match := _IBAN.search(text, pos)) is not None:
        pos = match.start() + 1  # an IBAN-like code that is not one: look on from its 2nd char
        candidate = match.group()
        work.steps += len(candidate)
        length = IBAN_LENGTHS.get(candidate[:2])
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
_HEX_DIGITS = "0123456789abcdefABCDEF"


def _ipv6(text: str, work: ScanWork) -> Iterator[Span]:
    """An address starts at most four hex digits before its first colon: each colon is tried
    from there (a scan for the pattern itself would try every position of the text), and a
    match is at most 39 characters."""
    colon = text.find(":")
    while colon >= 0:
        work.steps += 1
        head = text[max(0, colon - 4) : colon]
        match = _IPV6.match(text, colon - len(head) + len(head.rstrip(_HEX_DIGITS)))
        if match is None or not _is_ipv6(match.group()):
            colon = text.find(":", colon + 1)
            continue
        yield match.span()
        colon = text.find(":", match.end())


def _is_ipv6(candidate: str) -> bool:
    if not any(c.isalnum() for c in candidate):
        return False  # "::" alone, as in C++ or Rust paths
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


_CPF = re.compile(r"(?<![\d.])(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11})(?!\d)")
_CNPJ = re.compile(r"(?<![\d.])(?:\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}|\d{14})(?!\d)")
_SSN = re.compile(r"(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])")
_IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?!\d|\.\d)"
)


def _with_check_digits(pattern: re.Pattern[str], valid: Callable[[str], bool]) -> Detector:
    """A detector of the pattern's matches whose digits pass `valid`."""

    def detector(text: str, pos: int, endpos: int, work: ScanWork) -> Iterator[Span]:
        for match in pattern.finditer(text, pos, endpos):
            work.steps += 1
            if valid(_digits(match.group())):
                yield match.span()

    return detector


_cnpjs = _with_check_digits(_CNPJ, cnpj_valid)
_cpfs = _with_check_digits(_CPF, cpf_valid)


def _ssns(text: str, pos: int, endpos: int, work: ScanWork) -> Iterator[Span]:
    for match in _SSN.finditer(text, pos, endpos):
        work.steps += 1
        if ssn_valid(*match.groups()):
            yield match.span()


def _ipv4s(text: str, pos: int, endpos: int, work: ScanWork) -> Iterator[Span]:
    for match in _IPV4.finditer(text, pos, endpos):
        work.steps += 1
        yield match.span()


_CARD_GROUPS = re.compile(r"(?<![\d-])\d+(?:[ -]\d+)*(?!\d)")
_DIGIT_GROUP = re.compile(r"\d+")
# How card numbers are written: all at once (13-19 digits), in fours (the last group may be
# shorter), Amex's and Diners' 4-6-5 and 4-6-4, or a 13-digit Visa's 4-3-3-3.
_CARD_LAYOUT = re.compile(
    r"\d{13,19}|\d{4}(?:[ -]\d{4}){3}(?:[ -]\d{1,3})?|\d{4}[ -]\d{6}[ -]\d{4,5}"
    r"|\d{4}(?:[ -]\d{3}){3}"
)


def _cards(text: str, pos: int, endpos: int, work: ScanWork) -> Iterator[Span]:
    """A run of digit groups may hold cards between other numbers ("order 12 4111 1111 1111
    1111 2025"): the longest contiguous groups laid out as a card that pass Luhn are one, and
    the groups on either side are searched the same way."""
    if _CARD_LAYOUT.search(text, pos, endpos) is None:
        return  # no card in any layout (a phone, a date): the common case, cheaply
    for match in _CARD_GROUPS.finditer(text, pos, endpos):
        groups = [g.span() for g in _DIGIT_GROUP.finditer(text, *match.span())]
        work.steps += len(groups)
        yield from _cards_in(text, groups, work)


_CARD_FEWEST_DIGITS, _CARD_MOST_DIGITS = 13, 19


def _cards_in(text: str, groups: list[Span], work: ScanWork) -> list[Span]:
    """The cards among the groups: the one of most groups (the first of those) is a card, and
    so on either side of it. That is: the candidates, most groups first and then in order, each
    kept unless it overlaps one kept before. A card has 19 digits at most, so from each group
    at most 19 combinations can be one: linear in the groups. (Trying every first and last
    group, and again on each side of each card found, took cubic time: 9 s for 8 KB of card
    numbers, issue 13.)"""
    by_count: list[list[tuple[int, int]]] = [[] for _ in range(_CARD_MOST_DIGITS + 1)]
    for first, (start, _) in enumerate(groups):
        digits = 0
        for last in range(first, min(len(groups), first + _CARD_MOST_DIGITS)):
            work.steps += 1
            digits += groups[last][1] - groups[last][0]
            if digits > _CARD_MOST_DIGITS:
                break
            end = groups[last][1]
            if digits >= _CARD_FEWEST_DIGITS and _is_card(text, start, end):
                by_count[last - first + 1].append((first, last + 1))
    in_a_card = bytearray(len(groups))
    cards = []
    for candidates in reversed(by_count):
        for first, last in candidates:
            if in_a_card.find(1, first, last) < 0:
                in_a_card[first:last] = _OWNED * (last - first)
                cards.append((groups[first][0], groups[last - 1][1]))
    return sorted(cards)


def _is_card(text: str, start: int, end: int) -> bool:
    if not _CARD_LAYOUT.fullmatch(text, start, end) or _IBAN_HEAD.search(
        text, max(0, start - 5), start
    ):
        return False
    digits = _digits(text[start:end])
    return digits[0] in _CARD_ISSUERS and luhn_valid(digits)


# Major industry identifiers of payment cards: 2 and 5 Mastercard, 3 Amex, Diners and JCB,
# 4 Visa, 6 Discover, Maestro and others; 1, 7, 8, 9 and 0 are other industries' numbers.
_CARD_ISSUERS = frozenset("23456")
_IBAN_HEAD = re.compile(r"[A-Z]{2}\d{2} $")  # the digits after it belong to an IBAN-like code


# Letters may touch a phone ("tel+55 11 91234-5678ok") where it is written as phones are: with
# "+" and its country code, with "00", its country code and a space, with its area code in
# brackets, or with a Brazilian area code before a mobile (9 and eight digits) or before a
# landline written XXXX-XXXX ("fone11 3456-7890"). Digits glued to a word in other layouts read
# as a code as often ("h264 1920 1080", "INV0012345678"). And no area code is taken after a
# capital letter or "_", as codes and identifiers begin so ("DE89 3704 0044 …" is an IBAN's
# head, "SKU12 3456-7890" a product's): a phone has no check digit to tell them apart.
_PHONE = re.compile(
    # No phone starts right after a digit (each branch says so): checked once first, it spares
    # trying every branch at every digit of a run (half the time).
    r"(?<!\d)(?:"
    # International: +CC or 00CC, then groups (a bracketed area code allowed). 00CC is not
    # taken after another group of digits or capitals (inside an account number).
    r"(?:(?<![\d+])\+"
    r"|(?<![\w+])(?<![A-Z0-9] )00"
    r"|(?<=[^\W\dA-Z_])00(?=[1-9]\d{0,2} )"  # glued to a word
    r")[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\))?"
    # The groups end where digits do, so they cover whole runs of digits, five groups of five
    # at most: the first run after the code has 25 digits at most, or one digit and then a run
    # of 20 at most. Every match meets this, so it changes none; tried first, it refuses at
    # once a code before a longer run, whose every split the groups would try (3,000 ways: 13
    # µs a character of "+1111…" bodies, 30 times the rest, before it).
    r"(?=[ .-]?\d(?:\d{1,24}(?!\d)|[ .-]\d{1,20}(?!\d)))"
    r"(?:[ .-]?\d{1,5}){2,5}(?!\d)"
    # Brazilian: (DD), DD or 0DD, then 9XXXX-XXXX or 9 XXXX-XXXX (mobile) or XXXX-XXXX
    # (landline). A plain run of digits is an id or a timestamp far more often.
    r"|(?:(?<![\d(])\(0?\d{2}\)[ ]?(?:9[ .]?)?\d{4}[ .-]?"
    r"|(?<![\w(])0?\d{2}[ .-](?:9[ .]?)?\d{4}[ .-]?"
    r"|(?<=[^\W\dA-Z_])0?\d{2}[ .-](?:9[ .]?\d{4}[ .-]?|\d{4}-)"  # glued to a word
    r")\d{4}(?!\d)"
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671.
    r"|(?:(?<![\d(])\(\d{3}\)[ ]?|(?<![\w(])\d{3}[.-])\d{3}[.-]\d{4}(?!\d)"
    r")"
)


def _phones(text: str, pos: int, endpos: int, work: ScanWork) -> Iterator[Span]:
    """A match may run on into the next number ("+55 11 91234-5678 529.982..."): its longest
    prefix of whole groups with 8-15 digits (E.164's most) is the phone. A last group of one
    digit glued to letters is a count or a unit ("+49 30 77766279 3m12s"), not the phone's."""
    for match in _PHONE.finditer(text, pos, endpos):
        value = match.group()
        work.steps += len(value)
        if match.end() < len(text) and text[match.end()].isalpha() and not value[-2].isdigit():
            value = value[:-1].rstrip(" .-")
        while len(_digits(value)) > 15:
            cut = max(value.rfind(" "), value.rfind("-"), value.rfind("."))
            if cut <= 0:
                break
            value = value[:cut]
        if 8 <= len(_digits(value)) <= 15:
            yield match.start(), match.start() + len(value)


# The numeric kinds in KIND_ORDER, each with what a run (its text and its count of digits) must
# have to hold one of its values: a run without it is not searched for the kind. Phones, with 8
# digits or more, come last, after IPv6.
_NUMERIC_DETECTORS: tuple[tuple[str, Callable[[str, int], bool], Detector], ...] = (
    ("cnpj", lambda run, digits: digits >= 14, _cnpjs),
    ("cpf", lambda run, digits: digits >= 11, _cpfs),
    ("card", lambda run, digits: digits >= 13, _cards),
    ("ssn", lambda run, digits: digits >= 9 and "-" in run, _ssns),
    ("ip", lambda run, digits: run.count(".") >= 3, _ipv4s),
)
_PHONE_FEWEST_DIGITS = 8
