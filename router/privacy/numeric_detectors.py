"""The numeric kinds of PII (`cnpj`, `cpf`, `card`, `ssn`, IPv4 `ip`, `phone`), found in the runs
of digits and separators of a text: router/privacy/detectors.py says how they fit with the
others, and router/privacy/scan_work.py why each pattern is called a slice at a time.
"""

from __future__ import annotations

import heapq
import itertools
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence

from router.privacy.checksums import (
    cnpj_valid,
    cpf_valid,
    luhn_valid,
    phone_possible,
    ssn_valid,
)
from router.privacy.scan_work import SORTED_AT_ONCE, ScanWork, Span

# A detector yields the spans of its kind's values in text[pos:endpos], adding its work.
Detector = Callable[[str, int, int, ScanWork], Iterator[Span]]

# A run of digits and separators, with one character of context either side (for the
# look-arounds), and what the numeric kinds ask of it: its digits, hyphens and dots.
NumericRun = tuple[int, int, int, int, int]  # pos, endpos, digits, hyphens, dots


# Where a numeric value can be: a run of digits with the separators numbers are written with,
# seven characters or more (a "+" or "(" before it is in the context detect() adds), from its
# first digit to its last. ASCII digits: the check digits are computed on them, and the scan is
# twice as fast as one testing every character against Unicode's digits.
NUMERIC_RUN = re.compile(r"[0-9][0-9 ()./-]{5,}[0-9]")
_NUMERIC_CHARS = re.compile(r"[0-9 ()./-]+")
_NOT_NUMERIC = re.compile(r"[^0-9 ()./-]")
_SEPARATORS = " ()./-"
_SHORTEST_RUN = 7


def numeric_runs(text: str, work: ScanWork) -> Iterator[NumericRun]:
    """The matches of `NUMERIC_RUN`, a slice at a time: each slice ends after its last other
    character (no run crosses one), and a stretch of digits and separators longer than a slice
    is read on its own (`_long_run`)."""
    pos, length = 0, len(text)
    while pos < length:
        cut = min(length, pos + work.slice_chars)
        if cut < length:
            other = _NOT_NUMERIC.search(text[pos:cut][::-1])  # the slice's last one
            if other is None:
                long_run, pos = _long_run(text, pos, work)
                if long_run is not None:
                    yield long_run
                continue
            cut -= other.start()
        work.fits_one_call(text, pos, cut)
        for match in NUMERIC_RUN.finditer(text, pos, cut):
            yield (max(0, match.start() - 1), match.end() + 1, *numeric_counts(match.group()))
        pos = cut


def numeric_counts(run: str) -> tuple[int, int, int]:
    """The digits, hyphens and dots of a run."""
    return sum(map(str.isdigit, run)), run.count("-"), run.count(".")


def _long_run(text: str, pos: int, work: ScanWork) -> tuple[NumericRun | None, int]:
    """The run in the stretch of digits and separators at `pos`, one longer than a slice, read
    a slice at a time; and where the stretch ends."""
    start = last = -1
    digits = hyphens = dots = 0
    trailing_hyphens = trailing_dots = 0  # after the last digit so far
    end = pos
    for piece_start, end in work.run_slices(_NUMERIC_CHARS, text, pos, len(text)):
        piece = text[piece_start:end]
        if start < 0:  # no digit yet: the run starts at the first
            piece = piece.lstrip(_SEPARATORS)
            if not piece:
                continue
            start = piece_start = end - len(piece)
        head = piece.rstrip(_SEPARATORS)  # up to the piece's last digit
        if head:
            digits += len(head) - sum(map(head.count, _SEPARATORS))
            hyphens += trailing_hyphens + head.count("-")
            dots += trailing_dots + head.count(".")
            trailing_hyphens = piece.count("-", len(head))
            trailing_dots = piece.count(".", len(head))
            last = piece_start + len(head)
        else:
            trailing_hyphens += piece.count("-")
            trailing_dots += piece.count(".")
    if start < 0 or last - start < _SHORTEST_RUN:
        return None, end
    return (max(0, start - 1), last + 1, digits, hyphens, dots), end


def _digits(value: str) -> str:
    return _NON_DIGIT.sub("", value)


_NON_DIGIT = re.compile(r"\D")


_CPF = re.compile(r"(?<![\d.])(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11})(?!\d)")
_CNPJ = re.compile(r"(?<![\d.])(?:\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}|\d{14})(?!\d)")
# US SSNs: dashed (`123-45-6789`) or spaced (`123 45 6789`), layouts little else is written in;
# nine plain digits only after a label (`_SSN_LABEL`), as nine digits are more often anything else.
_SSN = re.compile(
    r"(?<!\d)(?<!\d-)\d{3}-\d{2}-\d{4}(?!-?\d)"
    r"|(?<!\d)(?<!\d[ -])\d{3} \d{2} \d{4}(?![ -]?\d)"
    r"|(?P<plain>(?<![\d.,-])\d{9}(?![\d-]|[.,]\d))"
)
_IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?!\d|\.\d)"
)
_NUMERIC_REACH = 24  # the longest of the four above (an IPv4 address), with its look-ahead


def _with_check_digits(pattern: re.Pattern[str], valid: Callable[[str], bool]) -> Detector:
    """A detector of the pattern's matches whose digits pass `valid`."""

    def detector(text: str, pos: int, endpos: int, work: ScanWork) -> Iterator[Span]:
        for match in work.finditer(pattern, text, pos, endpos, _NUMERIC_REACH):
            work.steps += 1
            if valid(_digits(match.group())):
                yield match.span()

    return detector


_cnpjs = _with_check_digits(_CNPJ, cnpj_valid)
_cpfs = _with_check_digits(_CPF, cpf_valid)


def _ssns(text: str, pos: int, endpos: int, work: ScanWork) -> Iterator[Span]:
    for match in work.finditer(_SSN, text, pos, endpos, _NUMERIC_REACH):
        work.steps += 1
        if match.group("plain") is not None and not _label_before(
            text, match.start(), _SSN_LABEL, work
        ):
            continue
        if ssn_valid(_digits(match.group())):
            yield match.span()


def _ipv4s(text: str, pos: int, endpos: int, work: ScanWork) -> Iterator[Span]:
    """A dotted quad after a version's mark (`v1.8.0.2`, `version 1.2.3.4`, `build`, `Chrome/`)
    is a version: four-part versions are written as addresses are."""
    for match in work.finditer(_IPV4, text, pos, endpos, _NUMERIC_REACH):
        work.steps += 1
        if not _label_before(text, match.start(), _VERSION_MARK, work):
            yield match.span()


# Labels read backwards from where a value starts: the text before it is reversed, and a label's
# words are written reversed below, ASCII letters in any case. No letter follows a label, and at
# most `_LABEL_GAP` characters other than digits and line ends lie between it and the value
# ("Social Security No. ", `"social_security_number": "SSN `, "| ssn | ").
_LABEL_WINDOW = 48
_LABEL_GAP = 24


def _reversed_labels(*labels: str, glued_before: bool) -> re.Pattern[str]:
    """A pattern for the reversed text before a value: up to `_LABEL_GAP` characters, the one
    next to the label no letter, then one of `labels` reversed, a space in a label standing for
    up to three characters other than letters and digits. With `glued_before` the label may
    follow letters ("guidesSSN 787350226"), for labels no word ends with."""
    words = "|".join(re.escape(label[::-1]).replace("\\ ", r"[\W_]{0,3}") for label in labels)
    gap = rf"(?:[^\d\n]{{0,{_LABEL_GAP - 1}}}?[^A-Za-z\d\n])?"
    word_start = "" if glued_before else r"(?![A-Za-z])"
    return re.compile(rf"{gap}(?:{words}){word_start}", re.IGNORECASE)


_SSN_LABEL = _reversed_labels("ssn", "ss#", "social security", "seguro social", glued_before=True)
_PHONE_LABEL = _reversed_labels(
    "phone", "telephone", "cellphone", "tel", "telefone", "fone", "celular", "cell", "mobile",
    "fax", "whatsapp", glued_before=False,
)  # fmt: skip
# A version's mark right before a dotted quad: "v" glued, a word meaning version or build, or a
# product's name and "/" (`Chrome/120.0.6099.109`).
_VERSION_MARK = re.compile(
    r"v(?![^\W\d_])"
    r"|[\s:#=.(]{0,3}(?:noisrev|oãsrev|oasrev|nóisrev|rev|dliub|oãçalipmoc|oacalipmoc|esaeler"
    r"|noisiver|ver)(?![^\W\d_])"
    r"|/[^\W\d_]",
    re.IGNORECASE,
)


def _label_before(text: str, start: int, label: re.Pattern[str], work: ScanWork) -> bool:
    """Whether `label` (a pattern of the reversed text) matches right before `start`."""
    window_start = max(0, start - _LABEL_WINDOW)
    work.steps += start - window_start
    reversed_window = text[window_start:start][::-1]
    return work.match(label, reversed_window, 0, _LABEL_WINDOW) is not None


_CARD_GROUPS = re.compile(r"(?<![\d-])\d+(?:[ -]\d+)*(?!\d)")
_DIGIT_GROUP = re.compile(r"\d+")
# How card numbers are written: all at once (12-19 digits), in fours (the last group may be
# shorter; three fours for a 12-digit Maestro), Amex's, Diners' and JCB's 4-6-5 and 4-6-4, or a
# 13-digit Visa's 4-3-3-3.
_CARD_LAYOUT = re.compile(
    r"\d{12,19}|\d{4}(?:[ -]\d{4}){3}(?:[ -]\d{1,3})?|\d{4}[ -]\d{4}[ -]\d{4}"
    r"|\d{4}[ -]\d{6}[ -]\d{4,5}"
    r"|\d{4}(?:[ -]\d{3}){3}"
)
_CARD_LAYOUT_REACH = 23


def _cards(text: str, pos: int, endpos: int, work: ScanWork) -> Iterator[Span]:
    """A run of digit groups may hold cards between other numbers ("order 12 4111 1111 1111
    1111 2025"): the longest contiguous groups laid out as a card that pass Luhn are one, and
    the groups on either side are searched the same way."""
    if work.search(_CARD_LAYOUT, text, pos, endpos, _CARD_LAYOUT_REACH) is None:
        return  # no card in any layout (a phone, a date): the common case, cheaply
    if work.fits_one_call(text, pos, endpos):  # the patterns themselves, faster
        for chain in _CARD_GROUPS.finditer(text, pos, endpos):
            groups = [g.span() for g in _DIGIT_GROUP.finditer(text, *chain.span())]
            work.steps += len(groups)
            yield from _cards_in(
                text, [start for start, _ in groups], [end for _, end in groups], work
            )
        return
    for starts, ends in _digit_group_chains(text, pos, endpos, work):
        work.steps += len(starts)
        yield from _cards_in(text, starts, ends, work)


def _digit_group_chains(
    text: str, pos: int, endpos: int, work: ScanWork
) -> Iterator[tuple[array[int], array[int]]]:
    r"""The groups of each match of `_CARD_GROUPS` in text[pos:endpos], a slice at a time: groups
    of digits joined by one space or hyphen each, the first not after a hyphen or a digit (a
    group after one is left out, and the chain starts at the next group). Each chain as its
    groups' starts and ends, in arrays: a chain may have 200,000 groups, and freeing as many
    tuples at once was one call of 5 to 30 ms that held the GIL."""
    starts, ends = array("q"), array("q")
    for start, end in work.runs(_DIGIT_GROUP, text, pos, endpos):
        if ends and start == ends[-1] + 1 and text[start - 1] in " -":
            starts.append(start)
            ends.append(end)
            continue
        if ends:
            yield starts, ends
            starts, ends = array("q"), array("q")
        before = text[start - 1] if start else ""
        if before != "-" and not before.isdecimal():
            starts.append(start)
            ends.append(end)
    if ends:
        yield starts, ends


_CARD_FEWEST_DIGITS, _CARD_MOST_DIGITS = 12, 19
_OWNED = b"\x01"


def _cards_in(
    text: str, starts: Sequence[int], ends: Sequence[int], work: ScanWork
) -> Iterable[Span]:
    """The cards among the groups: the one of most groups (the first of those) is a card, and
    so on either side of it. That is: the candidates, most groups first and then in order, each
    kept unless it overlaps one kept before. A card has 19 digits at most, so from each group
    at most 19 combinations can be one: linear in the groups. (Trying every first and last
    group, and again on each side of each card found, took cubic time: 9 s for 8 KB of card
    numbers, issue 13.)"""
    by_count: dict[int, list[tuple[int, int]]] = {}  # most chains have no candidate
    for first, start in enumerate(starts):
        digits = 0
        for last in range(first, min(len(starts), first + _CARD_MOST_DIGITS)):
            work.steps += 1
            end = ends[last]
            digits += end - starts[last]
            if digits > _CARD_MOST_DIGITS:
                break
            if digits >= _CARD_FEWEST_DIGITS and _is_card(text, start, end):
                by_count.setdefault(last - first + 1, []).append((first, last + 1))
    if not by_count:
        return ()
    in_a_card = bytearray(len(starts))
    cards = []
    for count in sorted(by_count, reverse=True):
        candidates, kept = by_count[count], []
        for first, last in candidates:
            if in_a_card.find(1, first, last) < 0:
                in_a_card[first:last] = _OWNED * (last - first)
                kept.append((starts[first], ends[last - 1]))
        if kept:
            cards.append(kept)  # of one count of groups, in order of position
    if len(cards) <= 1:
        return cards[0] if cards else ()
    if sum(map(len, cards)) <= SORTED_AT_ONCE:
        return sorted(itertools.chain.from_iterable(cards))
    return heapq.merge(*cards)  # in Python: see detectors.py's `_Taken.findings`


def _is_card(text: str, start: int, end: int) -> bool:
    if not _CARD_LAYOUT.fullmatch(text, start, end) or _IBAN_HEAD.search(
        text, max(0, start - 5), start
    ):
        return False
    digits = _digits(text[start:end])
    return _issued_as_card(digits) and luhn_valid(digits)


def _issued_as_card(digits: str) -> bool:
    """Whether the number's first digits and length are a card issuer's (ISO/IEC 7812 issuer
    ranges): a Luhn-valid order number or id of another range is no card."""
    if len(digits) == 12:
        return digits.startswith(_MAESTRO_12)
    if len(digits) == 15 and digits.startswith(_JCB_15):
        return True
    return digits[0] in _CARD_ISSUERS


# Major industry identifiers of payment cards, for 13-19 digits: 2 and 5 Mastercard, 3 Amex,
# Diners and JCB, 4 Visa, 6 Discover, Maestro and others; 1, 7, 8, 9 and 0 are other industries'
# numbers, but for JCB's 15-digit 1800 and 2131. Only Maestro issues 12 digits, in its ranges
# (5018, 5020, 5038, 6304, 6759 and 676x of the public issuer tables, the 56-58 and 639 of its
# older range, and 0604 of the lists Faker and card-type checkers follow); most other 12-digit
# numbers are ids and timestamps.
_CARD_ISSUERS = frozenset("23456")
_JCB_15 = ("1800", "2131")
_MAESTRO_12 = ("0604", "5018", "5020", "5038", "56", "57", "58", "6304", "639", "67")
_IBAN_HEAD = re.compile(r"[A-Z]{2}\d{2} $")  # the digits after it belong to an IBAN-like code


# Letters may touch a phone ("tel+55 11 91234-5678ok") where it is written as phones are: with
# "+" and its country code, with "00", its country code and a space, with its area code in
# brackets, or with a Brazilian area code before a mobile (9 and eight digits) or before a
# landline written dddd-dddd ("fone11 3456-7890"). Digits glued to a word in other layouts read
# as a code as often ("h264 1920 1080", "INV0012345678"). And no area code is taken after a
# capital letter or "_", as codes and identifiers begin so ("DE89 3704 0044 …" is an IBAN's
# head, "SKU12 3456-7890" a product's): a phone has no check digit to tell them apart.
_PHONE = re.compile(
    # No phone starts right after a digit (each branch says so): checked once first, it spares
    # trying every branch at every digit of a run (half the time).
    r"(?<!\d)(?:"
    # International: +CC or 00CC, then groups (a bracketed area code allowed). 00CC is not
    # taken after another group of digits or capitals (inside an account number), and its
    # country code is set apart ("0044 20", "001-415"): case numbers and ids start with 00 too.
    r"(?:(?<![\d+])\+[1-9]\d{0,2}"
    r"|(?<![\w+])(?<![A-Z0-9] )00[1-9]\d{0,2}(?=[ .(-])"
    r"|(?<=[^\W\dA-Z_])00[1-9]\d{0,2}(?= )"  # glued to a word
    r")(?:[ .-]?\(\d{1,4}\))?"
    # The groups end where digits do, so they cover whole runs of digits, five groups of five
    # at most: the first run after the code has 25 digits at most, or one digit and then a run
    # of 20 at most. Every match meets this, so it changes none; tried first, it refuses at
    # once a code before a longer run, whose every split the groups would try (3,000 ways: 13
    # µs a character of "+1111…" bodies, 30 times the rest, before it).
    r"(?=[ .-]?\d(?:\d{1,24}(?!\d)|[ .-]\d{1,20}(?!\d)))"
    r"(?:[ .-]?\d{1,5}){2,5}(?!\d)"
    # Brazilian: (DD), DD or 0DD, then 9dddd-dddd or 9 dddd-dddd (mobile) or dddd-dddd
    # (landline). A plain run of digits is an id or a timestamp far more often.
    r"|(?:(?<![\d(])\(0?\d{2}\)[ ]?(?:9[ .]?)?\d{4}[ .-]?"
    r"|(?<![\w(])0?\d{2}[ .-](?:9[ .]?)?\d{4}[ .-]?"
    r"|(?<=[^\W\dA-Z_])0?\d{2}[ .-](?:9[ .]?\d{4}[ .-]?|\d{4}-)"  # glued to a word
    r")\d{4}(?!\d)"
    # Brazilian non-geographic numbers: 0300, 0500, 0800 and 0900 and seven digits.
    r"|(?<![\w(])0[3589]00[ .-]\d{3}[ .-]?\d{4}(?!\d)"
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671; glued to a word when both
    # separators are the same.
    r"|(?:(?<![\d(])\(\d{3}\)[ ]?|(?<![\w(])\d{3}[.-])\d{3}[.-]\d{4}(?!\d)"
    r"|(?<=[^\W\dA-Z_])\d{3}(?P<nanp_separator>[.-])\d{3}(?P=nanp_separator)\d{4}(?!\d)"
    # Ten or eleven digits at once, taken only after a label (`_PHONE_LABEL`) and when they are
    # a valid number of the default regions: such runs are mostly ids and timestamps.
    r"|(?P<plain>(?<![\w+(.-])\d{10,11}(?![\d-]))"
    r")"
)
_PHONE_REACH = 64  # an international number: 43 characters with its look-ahead


def phones(text: str, pos: int, endpos: int, work: ScanWork) -> Iterator[Span]:
    """A match may run on into the next number ("+55 11 91234-5678 529.982..."): its longest
    prefix of whole groups with 8-15 digits (E.164's most) that is a possible number of its
    country (phonenumbers: `phone_possible`) is the phone. A last group of one digit glued to
    letters is a count or a unit ("+49 30 77766279 3m12s"), not the phone's."""
    for match in work.finditer(_PHONE, text, pos, endpos, _PHONE_REACH):
        value = match.group()
        work.steps += len(value)
        if match.group("plain") is not None:
            if _label_before(text, match.start(), _PHONE_LABEL, work) and phone_possible(
                value, valid=True
            ):
                yield match.span()
            continue
        if match.end() < len(text) and text[match.end()].isalpha() and not value[-2].isdigit():
            value = value[:-1].rstrip(" .-")
        while (digits := len(_digits(value))) >= 8:
            work.steps += 1
            if digits <= 15 and phone_possible(value):
                yield match.start(), match.start() + len(value)
                break
            cut = max(value.rfind(" "), value.rfind("-"), value.rfind("."))
            if cut <= 0:
                break
            value = value[:cut]


# The numeric kinds in KIND_ORDER, each with what a run must have to hold one of its values: its
# fewest digits and dots (a run without them is not searched for the kind; data, not a function
# per kind, as the test runs for every run and kind). Phones, with 8 digits or more, come last,
# after IPv6.
NUMERIC_DETECTORS: tuple[tuple[str, int, int, Detector], ...] = (
    ("cnpj", 14, 0, _cnpjs),
    ("cpf", 11, 0, _cpfs),
    ("card", _CARD_FEWEST_DIGITS, 0, _cards),
    ("ssn", 9, 0, _ssns),
    ("ip", 0, 3, _ipv4s),
)


# A run with fewer digits and dots than these holds none of the kinds above (most runs: dates,
# prices, times).
NUMERIC_FEWEST_DIGITS = min(digits for _, digits, dots, _ in NUMERIC_DETECTORS if dots == 0)
NUMERIC_FEWEST_DOTS = min(dots for _, digits, dots, _ in NUMERIC_DETECTORS if digits == 0)
PHONE_FEWEST_DIGITS = 8
