"""The identifiers validated by libraries (issue 14): python-stdnum's check digits and rules, and
phonenumbers' numbering plans, and the layouts and contexts that decide what is a candidate (SSNs
in every common layout, cards of every issuer's length, JSON-escaped e-mail addresses, versions
written as dotted quads). Each case comes with the near miss it must not take."""

from __future__ import annotations

import pytest

from router.privacy.checksums import (
    cnpj_valid,
    cpf_valid,
    iban_length,
    iban_valid,
    luhn_valid,
    phone_possible,
    ssn_valid,
)
from router.privacy.detectors import detect


def found(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.value(text)) for f in detect(text)]


FOUND = [
    # SSNs: dashed and spaced anywhere, nine plain digits after a label.
    ("ssn", "ssn 123 45 6789 on file", "123 45 6789"),
    ("ssn", '{"social_security_number": "SSN 119211572"}', "119211572"),
    ("ssn", "Social Security No. 862211727.", "862211727"),
    ("ssn", "| ssn | SSN/TIN: 715902392 |", "715902392"),
    ("ssn", "Número de Seguro Social: 450-12-3456", "450-12-3456"),
    ("ssn", "SSN#160878410", "160878410"),
    ("ssn", "guidesSSN 787350226cards", "787350226"),  # label and value glued to words
    ("ssn", "flag --552-19-8910: bad", "552-19-8910"),
    # Cards: a 12-digit Maestro, 15-digit JCBs, by their issuers' ranges.
    ("card", "Meu cartão é 639081036886.", "639081036886"),
    ("card", "maestro 5018 1234 5673.", "5018 1234 5673"),
    ("card", "pan 1800 624700 24078 ok", "1800 624700 24078"),
    ("card", "jcb 213112345678904", "213112345678904"),
    # E-mail: "@" as JSON escapes it, and an address after a label glued by a colon.
    ("email", '{"e-mail": "holderjoseph\\u0040example.com"}', "holderjoseph\\u0040example.com"),
    ("email", "contato:ana@x.com", "ana@x.com"),
    # IPv6 in its full form glued to letters; IPv4 after words that are no version's mark.
    ("ip", "inserir85e6:dfd8:18df:fd63:6fba:edd9:eeae:99ddfundo",
     "85e6:dfd8:18df:fd63:6fba:edd9:eeae:99dd"),
    ("ip", "server at 10.1.2.3 since version 2 shipped", "10.1.2.3"),
    ("ip", "http://192.168.0.1/admin", "192.168.0.1"),
    # Phones: `00` and a set-apart country code, Brazil's 0800, NANP glued, plain after a label.
    ("phone", "call 001-415-555-2671 today", "001-415-555-2671"),
    ("phone", "Celular: 0800 338 6193.", "0800 338 6193"),
    ("phone", "madinah419-718-2013saudi", "419-718-2013"),
    ("phone", '{"phone": "4155552671"}', "4155552671"),
    ("phone", "mobile: 2025550143", "2025550143"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "text", "value"), FOUND)
def test_a_validated_value_in_each_layout_is_found_exactly(
    kind: str, text: str, value: str
) -> None:
    assert found(text) == [(kind, value)], text


NOT_FOUND = [
    # Nine digits without a label, and labels that are part of another word.
    "invoice 158683925 was paid",
    "classname 123456789",
    "SSNs 123456789",
    # SSNs the SSA never issues, in the new layouts, and a number published in advertising.
    "SSN 000 12 3456, SSN 666123456, ssn 912 12 3456, SSN: 123 00 4567",
    "SSN 078-05-1120",
    # 12 digits outside Maestro's ranges, or failing Luhn; 15 digits starting 1 but not JCB's.
    "Message id 291406055926",  # Luhn-valid, but no Maestro range
    "ts 202406241432 and 639081036887",  # the first Luhn-valid, the second not
    "ref 190012345678903",
    # Case numbers and ids that start with 00: the country code is not set apart.
    "Case 00414360, ticket 0029001052, processo 0019566-90.2009.8.26.2768",
    "protocol 004352763948",
    # A plain run of ten digits without a phone's label, or with one but no valid number.
    "User id 8247444098",
    "hotel 4155552671",
    "phone: 1004567890",  # neither a US nor a Brazilian number
    # A country code whose number has no possible length.
    "ring +1 234 567 890",
    # Versions written as dotted quads.
    "GIT v1.5.6.5 Release Notes",
    "File version 69.81.181.189.",
    "Versão 91.57.204.71.",
    "Mozilla/5.0 Chrome/120.0.199.109 Safari/537.36",
    "Compilação 32.230.128.188.",
    "build 105.133.127.51",
    # An escaped "@" with no address around it.
    "\\u0040 and x\\u0040 alone",
]


@pytest.mark.parametrize("text", NOT_FOUND)
def test_a_near_miss_of_a_validated_kind_is_not_found(text: str) -> None:
    assert found(text) == [], text


def test_stdnum_decides_the_check_digits() -> None:
    assert cpf_valid("52998224725") and not cpf_valid("52998224726")
    assert not cpf_valid("11111111111")  # passes the check digits, issued to nobody
    assert cnpj_valid("11222333000181") and not cnpj_valid("11222333000182")
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert not iban_valid("GB82WEST1234569876543")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert not luhn_valid("٤١١١١١١١١١١١١١١١")  # another script's digits
    assert ssn_valid("123456789") and not ssn_valid("078051120") and not ssn_valid("900123456")


def test_iban_lengths_come_from_the_registry_stdnum_ships() -> None:
    assert iban_length("DE") == 22 and iban_length("BR") == 29 and iban_length("NO") == 15
    assert iban_length("ZZ") is None and iban_length("de") is None


def test_phonenumbers_decides_whether_a_phone_is_possible_or_valid() -> None:
    assert phone_possible("+55 11 91234-5678") and phone_possible("0044 20 7946 0958")
    assert phone_possible("(415) 555-2671") and phone_possible("011 3456-7890")
    assert not phone_possible("+1 234 567 890")  # nine digits: no North American number
    assert not phone_possible("+999 1234 5678")  # no such country code
    assert phone_possible("4155552671", valid=True)
    assert phone_possible("1234567890", valid=True)  # São José dos Campos, (12) 3456-7890
    assert not phone_possible("1004567890", valid=True)
