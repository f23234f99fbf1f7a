"""The check digits that tell a real identifier from a number of the same shape."""

from __future__ import annotations

import operator

# Lengths of each country's IBAN (ISO 13616 registry), for the countries that issue them.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


# These run on every candidate value of every prompt: sums over maps and translation tables
# take half the time of loops or less. Check digits are computed on ASCII digits: a number
# written in another script's digits is none of these identifiers.

# Luhn on the digits' ASCII codes ("0" is 48): every second digit from the right is doubled,
# less 9 when over 9, by a translation table.
_LUHN_DOUBLED = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))


def luhn_valid(digits: str) -> bool:
    if not digits.isascii():
        return False
    codes = digits.encode()
    kept = codes[-1::-2]
    total = sum(kept) - 48 * len(kept) + sum(codes[-2::-2].translate(_LUHN_DOUBLED))
    return total % 10 == 0


# ISO 13616: each letter counts as two digits, A=10 ... Z=35.
_IBAN_LETTER_VALUES = str.maketrans({chr(65 + i): str(10 + i) for i in range(26)})


def iban_valid(compact: str) -> bool:
    """An IBAN without spaces, upper case: its country's length and the mod-97 check."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    number = (compact[4:] + compact[:4]).translate(_IBAN_LETTER_VALUES)
    return number.isascii() and number.isdigit() and int(number) % 97 == 1


_CPF_WEIGHTS = (range(10, 1, -1), range(11, 1, -1))
_CNPJ_WEIGHTS = ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))


def cpf_valid(digits: str) -> bool:
    if len(digits) != 11 or not digits.isascii() or digits == digits[0] * 11:
        return False
    numbers = [ord(c) - 48 for c in digits]
    return all(
        sum(map(operator.mul, numbers, weights)) * 10 % 11 % 10 == numbers[len(weights)]
        for weights in _CPF_WEIGHTS
    )


def cnpj_valid(digits: str) -> bool:
    if len(digits) != 14 or not digits.isascii() or digits == digits[0] * 14:
        return False
    numbers = [ord(c) - 48 for c in digits]
    for weights in _CNPJ_WEIGHTS:
        check = sum(map(operator.mul, numbers, weights)) % 11
        if (0 if check < 2 else 11 - check) != numbers[len(weights)]:
            return False
    return True


def ssn_valid(area: str, group: str, serial: str) -> bool:
    return (
        area not in ("000", "666")
        and not area.startswith("9")
        and group != "00"
        and serial != "0000"
    )
