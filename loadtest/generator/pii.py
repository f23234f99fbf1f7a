"""Personal data for the prompts of a PII share, from a seeded generator (no Faker at run time):
values of the common kinds a gateway's PII scan looks for, each valid by its format's rules, and
from ranges set aside for examples wherever one exists, so that no generated value is a real
person's:

- e-mail addresses at `example.com`, `example.org` and `example.net`, the domains RFC 2606
  (section 3) reserves for documentation;
- phone numbers in the ranges set aside for drama and fiction: Ofcom's UK numbers 020 7946 0xxx
  (London), 0161 496 0xxx (Manchester) and 07700 900xxx (mobile), written in E.164's
  international form (+44 ...), and the North American 555-0100..555-0199, which NANPA keeps
  unassigned for fiction, as (NPA) 555-01xx;
- payment card numbers with a valid Luhn check digit (ISO/IEC 7812-1, annex B) in Visa's (4,
  16 digits), Mastercard's (51-55, 16) and American Express's (34 and 37, 15) issuer ranges,
  grouped as printed on cards (4-4-4-4, Amex 4-6-5);
- IBANs of Germany, the United Kingdom and the Netherlands with the structure of the SWIFT IBAN
  registry (DE: 8-digit bank code and 10-digit account; GB: 4-letter bank, 6-digit sort code,
  8-digit account; NL: 4-letter bank, 10-digit account) and their ISO 7064 mod 97-10 check digits
  (ISO 13616-1), printed in groups of four.

A PII prompt carries one or two of these, each in a sentence of its own (`PiiText`).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Final

PII_KINDS: Final = ("email", "phone", "card", "iban")

_GIVEN: Final = ("alice", "bruno", "chen", "dana", "emeka", "fatima", "goran", "hana", "ivan")
_FAMILY: Final = ("andersen", "baptiste", "costa", "dubois", "eriksen", "fischer", "garcia")
_EXAMPLE_DOMAINS: Final = ("example.com", "example.org", "example.net")
# (prefix, digits after it): Ofcom's drama ranges, 1,000 numbers each.
_UK_DRAMA: Final = (("+44 20 7946 0", 3), ("+44 161 496 0", 3), ("+44 7700 900", 3))
_NANP_AREA_CODES: Final = ("202", "212", "312", "415", "617", "713")
# (issuer prefixes, length, print grouping)
_CARD_ISSUERS: Final = (
    (("4",), 16, (4, 4, 4, 4)),
    (("51", "52", "53", "54", "55"), 16, (4, 4, 4, 4)),
    (("34", "37"), 15, (4, 6, 5)),
)
# country: BBAN as (alphabet, count) parts, from the SWIFT IBAN registry.
_IBAN_BBANS: Final = {
    "DE": ((string.digits, 8), (string.digits, 10)),
    "GB": ((string.ascii_uppercase, 4), (string.digits, 6), (string.digits, 8)),
    "NL": ((string.ascii_uppercase, 4), (string.digits, 10)),
}
_SENTENCES: Final = {
    "email": "You can reach me at {}.",
    "phone": "My phone number is {}.",
    "card": "Please charge my card {} for the order.",
    "iban": "Send the refund to my account {}.",
}


def luhn_check_digit(payload: str) -> str:
    """The digit that makes `payload` + digit pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:  # doubled: the check digit will sit to its right
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    digits = "".join(char for char in number if char.isdigit())
    return len(digits) > 1 and luhn_check_digit(digits[:-1]) == digits[-1]


def iban_check_digits(country: str, bban: str) -> str:
    """ISO 7064 mod 97-10 over the BBAN, the country and 00, letters as 10..35."""
    rearranged = bban + country + "00"
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return f"{98 - int(numeric) % 97:02d}"


def iban_valid(iban: str) -> bool:
    compact = iban.replace(" ", "")
    if len(compact) < 5 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    numeric = "".join(str(int(char, 36)) for char in compact[4:] + compact[:4])
    return int(numeric) % 97 == 1


@dataclass(frozen=True, slots=True)
class PiiText:
    text: str  # the sentences, to add to a prompt
    kinds: tuple[str, ...]
    values: tuple[str, ...]  # as written in the text, one per kind


class PiiGenerator:
    """Seeded values of each kind, and sentences holding one or two of them."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def email(self) -> str:
        rng = self._rng
        local = f"{rng.choice(_GIVEN)}.{rng.choice(_FAMILY)}{rng.randrange(100)}"
        return f"{local}@{rng.choice(_EXAMPLE_DOMAINS)}"

    def phone(self) -> str:
        rng = self._rng
        if rng.random() < 0.5:
            prefix, digits = rng.choice(_UK_DRAMA)
            return prefix + self._digits(digits)
        return f"({rng.choice(_NANP_AREA_CODES)}) 555-01{self._digits(2)}"

    def card(self) -> str:
        rng = self._rng
        prefixes, length, groups = rng.choice(_CARD_ISSUERS)
        payload = rng.choice(prefixes)
        payload += self._digits(length - 1 - len(payload))
        number = payload + luhn_check_digit(payload)
        parts, at = [], 0
        for size in groups:
            parts.append(number[at : at + size])
            at += size
        return " ".join(parts)

    def iban(self) -> str:
        rng = self._rng
        country = rng.choice(tuple(_IBAN_BBANS))
        bban = "".join(
            "".join(rng.choice(alphabet) for _ in range(count))
            for alphabet, count in _IBAN_BBANS[country]
        )
        compact = country + iban_check_digits(country, bban) + bban
        return " ".join(compact[at : at + 4] for at in range(0, len(compact), 4))

    def value(self, kind: str) -> str:
        makers = {"email": self.email, "phone": self.phone, "card": self.card, "iban": self.iban}
        return makers[kind]()

    def text(self) -> PiiText:
        """One or two sentences, each with a value of another kind."""
        kinds = tuple(self._rng.sample(PII_KINDS, self._rng.randint(1, 2)))
        values = tuple(self.value(kind) for kind in kinds)
        sentences = (
            _SENTENCES[kind].format(value) for kind, value in zip(kinds, values, strict=True)
        )
        return PiiText(" ".join(sentences), kinds, values)

    def _digits(self, count: int) -> str:
        return "".join(self._rng.choice(string.digits) for _ in range(count))
