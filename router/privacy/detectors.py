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

import bisect
import ipaddress
import itertools
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
# A detector yields the spans of its kind's values in text[pos:endpos].
Detector = Callable[[str, int, int], Iterator[Span]]


class _Taken:
    """The findings so far, in order of position. A new one is kept only if it overlaps none of
    them: detectors run in KIND_ORDER, so the more specific kind wins."""

    __slots__ = ("findings", "starts")

    def __init__(self) -> None:
        self.findings: list[tuple[int, int, str]] = []  # (start, end, kind), none overlapping
        self.starts: list[int] = []  # their starts, for bisection

    def keep(self, kind: str, spans: Iterable[Span]) -> None:
        for start, end in spans:
            at = bisect.bisect_right(self.starts, start)
            if at and self.findings[at - 1][1] > start:
                continue  # overlaps the finding before it
            if at < len(self.starts) and self.starts[at] < end:
                continue  # overlaps the finding after it
            self.starts.insert(at, start)
            self.findings.insert(at, (start, end, kind))

    def covers(self, start: int, end: int) -> bool:
        at = bisect.bisect_right(self.starts, start)
        return at > 0 and self.findings[at - 1][1] >= end

    def gaps(self, pos: int, endpos: int) -> list[Span]:
        """The parts of [pos, endpos) that no finding covers."""
        free = []
        at = max(0, bisect.bisect_right(self.starts, pos) - 1)
        while at < len(self.findings) and (start := self.starts[at]) < endpos:
            if start > pos:
                free.append((pos, start))
            pos = max(pos, self.findings[at][1])
            at += 1
        if pos < endpos:
            free.append((pos, endpos))
        return free


def detect(text: str) -> list[Finding]:
    """Every PII value in `text`, in order, none overlapping another."""
    if not text:
        return []
    taken = _Taken()
    taken.keep("secret", _secrets(text))
    if "@" in text:
        taken.keep("email", _emails(text))
    taken.keep("iban", _ibans(text))
    # Each numeric run with one character of context either side, for the look-arounds, and
    # its count of digits.
    runs = [
        (max(0, m.start() - 1), m.end() + 1, m.group(), _digit_count(m.group()))
        for m in _NUMERIC_RUN.finditer(text)
    ]
    for pos, endpos, run, digits in runs:
        for kind, possible, detector in _NUMERIC_DETECTORS:
            if possible(run, digits) and not taken.covers(pos + 1, endpos - 1):
                taken.keep(kind, detector(text, pos, endpos))
    if "::" in text or text.count(":") >= 7:
        taken.keep("ip", _ipv6(text))
    for pos, endpos, _, digits in runs:  # last, and only between what the other kinds took
        if digits >= _PHONE_FEWEST_DIGITS:
            for free_pos, free_end in taken.gaps(pos, endpos):
                taken.keep("phone", _phones(text, free_pos, free_end))
    return [Finding(kind, start, end) for start, end, kind in taken.findings]


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


def _secrets(text: str) -> Iterator[Span]:
    pos = 0
    while (hint := _SECRET_HINT.search(text, pos)) is not None:
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


def _emails(text: str) -> Iterator[Span]:
    at = text.find("@")
    while at >= 0:
        after = at + 1
        local = _EMAIL_LOCAL_REVERSED.match(text[max(0, at - _EMAIL_LOCAL_WINDOW) : at][::-1])
        if local is not None and (domain := _EMAIL_DOMAIN.match(text, after)) is not None:
            yield at - local.end(), domain.end()
            after = domain.end()
        at = text.find("@", after)


# An IBAN starts with two capitals (not after a third, nor after a digit) and two digits.
_IBAN = re.compile(r"[A-Z](?<![A-Z0-9].)[A-Z]\d{2}(?: ?[A-Z0-9]){11,30}")


def _ibans(text: str) -> Iterator[Span]:
    pos = 0
    while (match := _IBAN.search(text, pos)) is not None:
        pos = match.start() + 1  # an IBAN-like code that is not one: look on from its 2nd char
        candidate = match.group()
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


def _ipv6(text: str) -> Iterator[Span]:
    """An address starts at most four hex digits before its first colon: each colon is tried
    from there (a scan for the pattern itself would try every position of the text)."""
    colon = text.find(":")
    while colon >= 0:
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

    def detector(text: str, pos: int, endpos: int) -> Iterator[Span]:
        for match in pattern.finditer(text, pos, endpos):
            if valid(_digits(match.group())):
                yield match.span()

    return detector


_cnpjs = _with_check_digits(_CNPJ, cnpj_valid)
_cpfs = _with_check_digits(_CPF, cpf_valid)


def _ssns(text: str, pos: int, endpos: int) -> Iterator[Span]:
    for match in _SSN.finditer(text, pos, endpos):
        if ssn_valid(*match.groups()):
            yield match.span()


def _ipv4s(text: str, pos: int, endpos: int) -> Iterator[Span]:
    for match in _IPV4.finditer(text, pos, endpos):
        yield match.span()


_CARD_GROUPS = re.compile(r"(?<![\d-])\d+(?:[ -]\d+)*(?!\d)")
_DIGIT_GROUP = re.compile(r"\d+")
# How card numbers are written: all at once (13-19 digits), in fours (the last group may be
# shorter), Amex's and Diners' 4-6-5 and 4-6-4, or a 13-digit Visa's 4-3-3-3.
_CARD_LAYOUT = re.compile(
    r"\d{13,19}|\d{4}(?:[ -]\d{4}){3}(?:[ -]\d{1,3})?|\d{4}[ -]\d{6}[ -]\d{4,5}"
    r"|\d{4}(?:[ -]\d{3}){3}"
)


def _cards(text: str, pos: int, endpos: int) -> Iterator[Span]:
    """A run of digit groups may hold cards between other numbers ("order 12 4111 1111 1111
    1111 2025"): the longest contiguous groups laid out as a card that pass Luhn are one, and
    the groups on either side are searched the same way."""
    if _CARD_LAYOUT.search(text, pos, endpos) is None:
        return  # no card in any layout (a phone, a date): the common case, cheaply
    for match in _CARD_GROUPS.finditer(text, pos, endpos):
        groups = [g.span() for g in _DIGIT_GROUP.finditer(text, *match.span())]
        yield from _cards_in(text, groups)


def _cards_in(text: str, groups: list[Span]) -> list[Span]:
    if not groups:
        return []
    digits_before = list(itertools.accumulate((end - start for start, end in groups), initial=0))
    for count in range(len(groups), 0, -1):
        for first in range(len(groups) - count + 1):
            last = first + count
            if not 13 <= digits_before[last] - digits_before[first] <= 19:
                continue  # not a card in any layout: a cheaper test than the layout's
            start, end = groups[first][0], groups[last - 1][1]
            if not _CARD_LAYOUT.fullmatch(text, start, end) or _IBAN_HEAD.search(
                text, max(0, start - 5), start
            ):
                continue
            digits = _digits(text[start:end])
            if digits[0] in _CARD_ISSUERS and luhn_valid(digits):
                before = _cards_in(text, groups[:first])
                after = _cards_in(text, groups[last:])
                return [*before, (start, end), *after]
    return []


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
    r")[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){2,5}(?!\d)"
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


def _phones(text: str, pos: int, endpos: int) -> Iterator[Span]:
    """A match may run on into the next number ("+55 11 91234-5678 529.982..."): its longest
    prefix of whole groups with 8-15 digits (E.164's most) is the phone. A last group of one
    digit glued to letters is a count or a unit ("+49 30 77766279 3m12s"), not the phone's."""
    for match in _PHONE.finditer(text, pos, endpos):
        value = match.group()
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
