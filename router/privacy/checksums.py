"""Whether a candidate the detectors found is a value of its kind, by well-kept libraries rather
than checks of our own: python-stdnum for the check digits and rules of identifiers (CPF, CNPJ,
IBAN, Luhn, US SSN) and phonenumbers (Google's libphonenumber) for the numbering plans of phones.

They are called only on candidates the cheap scan found, never on the text: a CPF costs 6 µs in
stdnum (2 µs hand-written), an IBAN 19 µs, a phone 2 to 16 µs, and a 1 KB prompt has a few
candidates (docs/privacy.md has the times measured). Nothing here keeps a value: a cache of the
values checked would keep personal data past its request.
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from stdnum import luhn, numdb
from stdnum.br import cnpj, cpf
from stdnum.iso7064 import mod_97_10
from stdnum.us import ssn

# Check digits are computed on ASCII digits: a number written in another script's digits is none
# of these identifiers (stdnum refuses them too; this is the cheap test first).


def luhn_valid(digits: str) -> bool:
    return digits.isascii() and digits.isdigit() and luhn.checksum(digits) == 0


def cpf_valid(digits: str) -> bool:
    # A run of one digit passes the check digits (111.111.111-11) but is no CPF the Receita
    # Federal issues: stdnum takes it, we do not.
    return (
        len(digits) == 11 and digits.isascii() and digits != digits[0] * 11 and cpf.is_valid(digits)
    )


def cnpj_valid(digits: str) -> bool:
    """14 ASCII digits (the pattern's), so of `cnpj.is_valid`'s checks only its check digits
    are asked: it cleans the number twice, half of its 8 µs."""
    return (
        len(digits) == 14
        and digits.isascii()
        and digits.isdigit()
        and digits != digits[0] * 14
        and cnpj.calc_check_digits(digits[:12]) == digits[12:]
    )


def ssn_valid(digits: str) -> bool:
    """Nine digits: the SSA's rules (no 000, 666 or 9xx area, no 00 group, no 0000 serial) and
    the numbers published in advertising (078-05-1120, ...)."""
    return len(digits) == 9 and digits.isascii() and ssn.is_valid(digits)


def iban_valid(compact: str) -> bool:
    """An IBAN without spaces, upper case: its country's structure in SWIFT's registry and the
    ISO 7064 mod 97-10 check, what `stdnum.iban.is_valid(compact, check_country=False)` checks.
    Its per-call registry lookup (19 µs) is done once per country here. The national check
    digits some countries add (Spain's, France's RIB key) are not asked: an IBAN with a wrong
    national check is still someone's account number, mistyped."""
    structure = _bban_structure(compact[:2])
    return (
        structure is not None
        and compact[2:4].isdigit()
        and compact.isascii()
        and structure.fullmatch(compact, 4) is not None
        and mod_97_10.is_valid(compact[4:] + compact[:4])
    )


def iban_length(country: str) -> int | None:
    """The length of the country's IBANs, or None when the country issues none."""
    structure = _bban_structure(country)
    return None if structure is None else 4 + structure.groups


_IBAN_REGISTRY = numdb.get("iban")  # SWIFT's registry, as stdnum ships it
_BBAN_FIELD = re.compile(r"(\d+)!([nac])")
_BBAN_CHARS = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Za-z0-9]"}


@cache  # keyed by a country code: at most 676 entries, and no personal data
def _bban_structure(country: str) -> re.Pattern[str] | None:
    """The country's BBAN structure (`4!a6!n8!n`) as a pattern with one group per character,
    so that its number of groups is the BBAN's length; None when it issues no IBAN."""
    if len(country) != 2 or not country.isascii() or not country.isupper():
        return None
    found = _IBAN_REGISTRY.info(country)
    if not found or not found[0][1] or "bban" not in found[0][1]:
        return None
    fields = _BBAN_FIELD.findall(found[0][1]["bban"])
    return re.compile("".join(f"({_BBAN_CHARS[kind]})" * int(size) for size, kind in fields))


# Phones. A national number (no "+" or "00" before it) is read as the default regions' (the US's
# and Brazil's), an international one by its country code.
_NATIONAL_CODES = (1, 55)


def phone_possible(value: str, *, valid: bool = False) -> bool:
    """Whether a phone candidate as written (`+55 11 91234-5678`, `0044 20 7946 0958`, `(415)
    555-2671`, `011 3456-7890`) is a possible number of its country or of a default region:
    a known country code and a length its numbering plan has. With `valid`, it must also be a
    number of an assigned range (libphonenumber's `is_valid_number`), for candidates whose
    layout says little."""
    digits = _NOT_ASCII_DIGIT.sub("", value)
    stripped = value.lstrip(" (")
    if stripped.startswith("+") or stripped.startswith("00"):
        number = _international(digits[2:] if stripped.startswith("00") else digits)
        return number is not None and _fits(number, valid)
    if not digits:
        return False
    for code in _NATIONAL_CODES:
        national = digits[1:] if code == 1 and len(digits) == 11 and digits[0] == "1" else digits
        if code == 55:
            national = national.lstrip("0")  # Brazil's trunk prefix: (011) 3456-7890
        number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national or 0))
        if _fits(number, valid):
            return True
    return False


_NOT_ASCII_DIGIT = re.compile(r"[^0-9]")
_CALLING_CODES = phonenumbers.COUNTRY_CODE_TO_REGION_CODE


def _international(digits: str) -> phonenumbers.PhoneNumber | None:
    """The number of E.164 digits (country code first), or None without a country code.
    Country codes are prefix-free, so the first of one to three digits that is one is it; the
    rest is the national number (`phonenumbers.parse` only where it starts with a 0, which
    some countries keep: it is three to five times slower)."""
    for size in (1, 2, 3):
        code = int(digits[:size] or 0)
        if code in _CALLING_CODES:
            break
    else:
        return None
    national = digits[size:]
    if not national:
        return None
    if national[0] == "0":
        try:
            return phonenumbers.parse("+" + digits)
        except phonenumbers.NumberParseException:
            return None
    return phonenumbers.PhoneNumber(country_code=code, national_number=int(national))


def _fits(number: phonenumbers.PhoneNumber, valid: bool) -> bool:
    if valid:
        return phonenumbers.is_valid_number(number)
    # Not a local number without its area code (`IS_POSSIBLE_LOCAL_ONLY`): a phone written
    # with a country code has its area code.
    reason = phonenumbers.is_possible_number_with_reason(number)
    return reason == phonenumbers.ValidationResult.IS_POSSIBLE
