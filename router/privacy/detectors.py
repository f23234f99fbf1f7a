"""PII detectors: where in a text each kind of personal or secret value is, checked where the
value has check digits.

Kinds: `email`, `phone` (international and Brazilian formats), `card` (13–19 digits, Luhn),
`iban` (country length and mod-97), `ip` (IPv4, IPv6), `ssn` (US, with the SSA's invalid ranges
refused), `cpf` and `cnpj` (Brazil, check digits) and `secret` (API keys and bearer tokens by
their published shapes).

Each kind is one compiled regular expression over the text, skipped when a cheap test shows it
cannot match (no `@` means no e-mail address), and then a validator. Overlapping findings are
resolved by kind, most specific first (`KIND_ORDER`): a CNPJ's 14 digits are not also reported as
a card, nor a card's digits as a phone. docs/privacy.md has the precision and recall measured on
a labelled set.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
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


_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
)
_SECRET = re.compile(
    r"(?<![\w-])(?:"
    r"sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r")(?![\w-])"
    r"|(?i:bearer)\s+(?P<bearer>[A-Za-z0-9._~+/-]{20,}=*)"
)
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
_CPF = re.compile(r"(?<![\d.])(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11})(?![\d])")
_CNPJ = re.compile(r"(?<![\d.])(?:\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}|\d{14})(?![\d])")
_CARD_GROUPS = re.compile(r"(?<![\d-])\d+(?:[ -]\d+)*(?![\d])")
_DIGIT_GROUP = re.compile(r"\d+")
_SSN = re.compile(r"(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])")
_IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?!\d|\.\d)"
)
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_PHONE = re.compile(
    # International: +CC then groups (a bracketed area code allowed), or 00CC.
    # (00CC not right after another group of digits or capitals: inside an account number).
    r"(?<![\w+])(?:\+|(?<![A-Z0-9] )00)[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){2,5}"
    r"(?![\w])"
    # Brazilian: (DD), DD or 0DD set apart, then 9XXXX-XXXX or 9 XXXX-XXXX (mobile) or
    # XXXX-XXXX (landline). A plain run of digits is an id or a timestamp far more often.
    r"|(?<![\w(])(?:\(0?\d{2}\)[ ]?|0?\d{2}[ .-])(?:9[ .]?)?\d{4}[ .-]?\d{4}(?![\w])"
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671.
    r"|(?<![\w(])(?:\(\d{3}\)[ ]?|\d{3}[.-])\d{3}[.-]\d{4}(?![\w])"
)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


# Where a numeric value can be: a run of digits with the separators numbers are written with,
# seven characters or more. The numeric detectors (CPF, CNPJ, card, SSN, IPv4, phone) search
# only these runs (one scan of the text instead of six), with one character of context each side.
_NUMERIC_RUN = re.compile(r"[+(]?\d[\d ()./-]{5,}\d")
_SECRET_MARKS = ("sk-", "AKIA", "p_", "o_", "u_", "s_", "r_", "_pat_", "xox", "AIza", "eyJ")

Detector = Callable[[str, int, int], Iterator[Finding]]


def _emails(text: str, pos: int, endpos: int) -> Iterator[Finding]:
    if "@" in text:
        for match in _EMAIL.finditer(text, pos, endpos):
            yield Finding("email", match.start(), match.end())


def _secrets(text: str, pos: int, endpos: int) -> Iterator[Finding]:
    if not any(mark in text for mark in _SECRET_MARKS) and "bearer" not in text.lower():
        return
    for match in _SECRET.finditer(text, pos, endpos):
        if match.group("bearer") is not None:
            yield Finding("secret", match.start("bearer"), match.end("bearer"))
        else:
            yield Finding("secret", match.start(), match.end())


def _ibans(text: str, pos: int, endpos: int) -> Iterator[Finding]:
    while (match := _IBAN.search(text, pos, endpos)) is not None:
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
            yield Finding("iban", match.start(), match.start() + end)
            pos = match.start() + end  # the next IBAN may follow at once


def _ipv6(text: str, pos: int, endpos: int) -> Iterator[Finding]:
    if "::" not in text and text.count(":") < 7:
        return
    for match in _IPV6.finditer(text, pos, endpos):
        candidate = match.group()
        if not any(c.isalnum() for c in candidate):
            continue  # "::" alone, as in C++ or Rust paths
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield Finding("ip", match.start(), match.end())


def _checked(kind: str, pattern: re.Pattern[str], valid: Callable[[str], bool]) -> Detector:
    def find(text: str, pos: int, endpos: int) -> Iterator[Finding]:
        for match in pattern.finditer(text, pos, endpos):
            if valid(match.group()):
                yield Finding(kind, match.start(), match.end())

    return find


def _cards(text: str, pos: int, endpos: int) -> Iterator[Finding]:
    """A run of digit groups may hold cards between other numbers ("order 12 4111 1111 1111
    1111 2025"): the longest contiguous groups laid out as a card that pass Luhn are one, and
    the groups on either side are searched the same way."""
    for match in _CARD_GROUPS.finditer(text, pos, endpos):
        groups = [(g.start(), g.end()) for g in _DIGIT_GROUP.finditer(text, *match.span())]
        for start, end in _cards_in(text, groups):
            yield Finding("card", start, end)


def _cards_in(text: str, groups: list[tuple[int, int]]) -> list[tuple[int, int]]:
    for count in range(len(groups), 0, -1):
        for first in range(len(groups) - count + 1):
            chosen = groups[first : first + count]
            sizes = tuple(end - start for start, end in chosen)
            start, end = chosen[0][0], chosen[-1][1]
            if not _card_layout(sizes) or _IBAN_HEAD.search(text, max(0, start - 5), start):
                continue
            digits = _digits(text[start:end])
            if digits[0] in _CARD_ISSUERS and luhn_valid(digits):
                before = _cards_in(text, groups[:first])
                after = _cards_in(text, groups[first + count :])
                return [*before, (start, end), *after]
    return []


def _card_layout(sizes: tuple[int, ...]) -> bool:
    """How card numbers are written: all at once (13-19 digits), in fours (the last group may
    be shorter), or Amex's and Diners' 4-6-5 and 4-6-4."""
    if len(sizes) == 1:
        return 13 <= sizes[0] <= 19
    if sizes in ((4, 6, 5), (4, 6, 4)):
        return True
    return (
        4 <= len(sizes) <= 5
        and all(size == 4 for size in sizes[:4])
        and (len(sizes) == 4 or 1 <= sizes[4] <= 3)
    )


# Major industry identifiers of payment cards: 2 and 5 Mastercard, 3 Amex, Diners and JCB,
# 4 Visa, 6 Discover, Maestro and others; 1, 7, 8, 9 and 0 are other industries' numbers.
_CARD_ISSUERS = frozenset("23456")
_IBAN_HEAD = re.compile(r"[A-Z]{2}\d{2} $")  # the digits after it belong to an IBAN-like code


def _ssn(value: str) -> bool:
    area, group, serial = value.split("-")
    return ssn_valid(area, group, serial)


def _phones(text: str, pos: int, endpos: int) -> Iterator[Finding]:
    """A match may run on into the next number ("+55 11 91234-5678 529.982..."): its longest
    prefix of whole groups with 8-15 digits (E.164's most) is the phone."""
    for match in _PHONE.finditer(text, pos, endpos):
        value = match.group()
        while len(_digits(value)) > 15:
            cut = max(value.rfind(" "), value.rfind("-"), value.rfind("."))
            if cut <= 0:
                break
            value = value[:cut]
        if 8 <= len(_digits(value)) <= 15:
            yield Finding("phone", match.start(), match.start() + len(value))


def _always(_value: str) -> bool:
    return True


# Whole-text detectors, then the numeric ones; most specific kind first within each (the order
# resolves overlaps, see KIND_ORDER).
_TEXT_DETECTORS: tuple[Detector, ...] = (_secrets, _emails, _ibans)
_NUMERIC_DETECTORS: tuple[Detector, ...] = (
    _checked("cnpj", _CNPJ, lambda value: cnpj_valid(_digits(value))),
    _checked("cpf", _CPF, lambda value: cpf_valid(_digits(value))),
    _cards,
    _checked("ssn", _SSN, _ssn),
    _checked("ip", _IPV4, _always),
)
_LAST_DETECTORS: tuple[Detector, ...] = (_ipv6,)
_PHONES = _phones


def detect(text: str) -> list[Finding]:
    """Every PII value in `text`, in order, none overlapping another."""
    if not text:
        return []
    taken: list[Finding] = []

    def keep(findings: Iterator[Finding]) -> None:
        for finding in findings:
            if not any(f.start < finding.end and finding.start < f.end for f in taken):
                taken.append(finding)

    size = len(text)
    for detector in _TEXT_DETECTORS:
        keep(detector(text, 0, size))
    runs = [(max(0, m.start() - 1), min(size, m.end() + 1)) for m in _NUMERIC_RUN.finditer(text)]
    for detector in _NUMERIC_DETECTORS:
        for pos, endpos in runs:
            keep(detector(text, pos, endpos))
    for detector in _LAST_DETECTORS:
        keep(detector(text, 0, size))
    for pos, endpos in runs:  # last, and only between what the other kinds took
        for free_pos, free_end in _gaps(pos, endpos, taken):
            keep(_PHONES(text, free_pos, free_end))
    taken.sort(key=lambda f: f.start)
    return taken


def _gaps(pos: int, endpos: int, taken: list[Finding]) -> Iterator[tuple[int, int]]:
    """The parts of [pos, endpos) that no finding covers."""
    overlapping = [f for f in taken if f.start < endpos and pos < f.end]
    for finding in sorted(overlapping, key=lambda f: f.start):
        if finding.start > pos:
            yield pos, finding.start
        pos = max(pos, finding.end)
    if pos < endpos:
        yield pos, endpos
