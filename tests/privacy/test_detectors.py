"""Each PII detector finds its kind in English and Portuguese text, and refuses values of the same
shape whose check digits or ranges are wrong. Precision and recall on a labelled set are measured
in docs/privacy.md; these are the cases each detector must get right."""

from __future__ import annotations

import itertools

import pytest

from router.privacy.checksums import cnpj_valid, cpf_valid, iban_valid, luhn_valid
from router.privacy.detectors import detect

FOUND = [
    ("email", "Escreva para joao.silva@exemplo.com.br, por favor.", "joao.silva@exemplo.com.br"),
    ("email", "(contact: ann+news@mail.example.co.uk)", "ann+news@mail.example.co.uk"),
    ("phone", "Ligue +55 11 91234-5678 amanhã", "+55 11 91234-5678"),
    ("phone", "meu celular é (11) 91234-5678", "(11) 91234-5678"),
    ("phone", "fixo 11 3456-7890", "11 3456-7890"),
    ("phone", "call +44 20 7946 0958 today", "+44 20 7946 0958"),
    ("phone", "US office (415) 555-2671.", "(415) 555-2671"),
    ("phone", "from abroad 0044 20 7946 0958", "0044 20 7946 0958"),
    ("card", "card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111"),
    ("card", "cartão 5500-0000-0000-0004", "5500-0000-0000-0004"),
    ("card", "amex 378282246310005", "378282246310005"),
    ("card", "visa de 13 dígitos 4222 222 222 222", "4222 222 222 222"),
    ("iban", "IBAN DE89 3704 0044 0532 0130 00 thanks", "DE89 3704 0044 0532 0130 00"),
    ("iban", "conta PT50000201231234567890154.", "PT50000201231234567890154"),
    ("iban", "GB82WEST12345698765432", "GB82WEST12345698765432"),
    ("ip", "server 192.168.1.10 is down.", "192.168.1.10"),
    ("ip", "IPv6 2001:db8::8a2e:370:7334 responde", "2001:db8::8a2e:370:7334"),
    ("ip", "loopback ::1 only", "::1"),
    ("ssn", "SSN 123-45-6789", "123-45-6789"),
    ("cpf", "CPF 529.982.247-25", "529.982.247-25"),
    ("cpf", '{"cpf": "52998224725"}', "52998224725"),
    ("cnpj", "CNPJ 11.222.333/0001-81", "11.222.333/0001-81"),
    ("cnpj", "cnpj=11222333000181", "11222333000181"),
    ("secret", "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx1234",
     "sk-proj-abcdefghijklmnopqrstuvwx1234"),
    ("secret", "aws AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("secret", "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
     "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("secret", "Authorization: Bearer abcdefghijklmnopqrstuvwxyz123456",
     "abcdefghijklmnopqrstuvwxyz123456"),
    ("secret", "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU"),
]  # fmt: skip

NOT_FOUND = [
    "price R$ 1.234,56 on 2024-05-17 at 10:30:45",
    "CEP 01310-100, ramal 1234",
    "version v1.2.3 and 10.0.0, build 2.10.3",
    "card-like 4111 1111 1111 1112 fails Luhn",
    "CPF inválido 529.982.247-26 e 11111111111",
    "CNPJ inválido 11.222.333/0001-82",
    "IBAN-like DE89 3704 0044 0532 0130 01 fails mod-97",
    "SSNs the SSA never issues: 000-12-3456, 666-12-3456, 912-12-3456, 123-00-4567",
    "address 256.1.1.1 and 1.2.3.4.5 are not IPs",
    "the user@ handle and @maria on social media",
    "placeholders <EMAIL_1> and <CPF_2> are not values",
    "commit 3f2a9c1b7d4e and uuid 123e4567-e89b-12d3-a456-426614174000",
    "skills: sk-ills, desk-top, task-force",
    "bearer of bad news",
]


# A value glued to letters (a label typed without a space, a value pasted inside a word) is found:
# only a digit next to a number ends it. Letters glued after an e-mail address or a secret may be
# taken with it, since where the value ends cannot be told.
GLUED = [
    ("card", "cartão4111111111111111válido", "4111111111111111"),
    ("card", "cardé4111 1111 1111 1111ok", "4111 1111 1111 1111"),
    ("cpf", "cpf529.982.247-25ok", "529.982.247-25"),
    ("cpf", "éé52998224725éé", "52998224725"),
    ("cnpj", "cnpj11.222.333/0001-81é", "11.222.333/0001-81"),
    ("cnpj", "x11222333000181y", "11222333000181"),
    ("ssn", "ssn123-45-6789x", "123-45-6789"),
    ("ip", "hosté192.168.1.10é", "192.168.1.10"),
    ("phone", "tel+55 11 91234-5678ok", "+55 11 91234-5678"),
    ("phone", "é+55 11 91234-5678é", "+55 11 91234-5678"),
    ("phone", "celular(11) 91234-5678ok", "(11) 91234-5678"),
    ("phone", "fone11 91234-5678x", "11 91234-5678"),
    ("phone", "ligue011 3456-7890obrigado", "011 3456-7890"),
    ("phone", "ligue0044 20 7946 0958obrigado", "0044 20 7946 0958"),
    ("phone", "call log +49 30 77766279 3m12s", "+49 30 77766279"),  # "3m": a duration
    ("iban", "xDE89370400440532013000y", "DE89370400440532013000"),
    ("iban", "contaéDE89 3704 0044 0532 0130 00é", "DE89 3704 0044 0532 0130 00"),
    ("email", "abcalice@example.comxyz", "abcalice@example.comxyz"),
    ("email", "alice@example.com123", "alice@example.com"),
    ("email", "escreva para joão@exemplo.com.br hoje", "joão@exemplo.com.br"),
    ("secret", "key:sk-proj-abcdefghijklmnopqrstuvwx1234éé",
     "sk-proj-abcdefghijklmnopqrstuvwx1234éé"),
    ("secret", "AKIAIOSFODNN7EXAMPLEsecret", "AKIAIOSFODNN7EXAMPLEsecret"),
    ("secret", "Bearer abcdefghijklmnopqrstuvwxyz123456ção", "abcdefghijklmnopqrstuvwxyz123456ção"),
]  # fmt: skip

# What letters next to a number could make look like a value, and is not one.
NOT_FOUND_GLUED = [
    "encode it with h264 1920 1080 at 30 fps",  # a landline's shape glued to a word: a code
    "SKU12 3456-7890 is out of stock",  # after a capital letter: a product code
    "invoice inv0012345678 paid",  # "00" and digits glued to a word, no space: a code
    "ABDE89370400440532013000",  # an IBAN's shape after a capital: part of a longer code
    "std::map<int> and a::b::c",  # IPv6 is never taken next to letters: hex digits are letters
    "npm i lodash@4.17.21, then ssh deploy@localhost",  # no top-level domain
    "SKU4111111111111112",  # a card's shape glued to a code, but Luhn fails
]


@pytest.mark.parametrize(("kind", "text", "value"), GLUED)
def test_a_value_glued_to_letters_is_found(kind: str, text: str, value: str) -> None:
    found = [(f.kind, f.value(text)) for f in detect(text)]
    assert found == [(kind, value)], text


@pytest.mark.parametrize("text", NOT_FOUND_GLUED)
def test_letters_next_to_a_number_do_not_make_it_a_value(text: str) -> None:
    assert [(f.kind, f.value(text)) for f in detect(text)] == []


def test_a_valid_card_number_glued_to_a_product_code_is_taken_for_a_card() -> None:
    # A code whose digits are a valid card number (Luhn, an issuer's first digit, a card's
    # length) cannot be told from a card typed after its label. Redaction is reversible: a
    # product code redacted costs a placeholder in the prompt, a card let through leaks it.
    text = "SKU4111111111111111"
    assert [(f.kind, f.value(text)) for f in detect(text)] == [("card", "4111111111111111")]


@pytest.mark.parametrize(("kind", "text", "value"), FOUND)
def test_a_value_of_each_kind_is_found_exactly(kind: str, text: str, value: str) -> None:
    found = [(f.kind, f.value(text)) for f in detect(text)]
    assert found == [(kind, value)], text


@pytest.mark.parametrize("text", NOT_FOUND)
def test_a_value_of_the_same_shape_but_wrong_is_not_found(text: str) -> None:
    assert [(f.kind, f.value(text)) for f in detect(text)] == []


def test_several_kinds_in_one_text_are_found_in_order_and_never_overlap() -> None:
    text = "CNPJ 11222333000181, CPF 529.982.247-25, mail a@b.io, tel +55 21 98765-4321"
    found = detect(text)
    assert [f.kind for f in found] == ["cnpj", "cpf", "email", "phone"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))


def test_the_checksums_against_known_values() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert not iban_valid("GB82WEST1234569876543")  # one character short for GB
    assert cpf_valid("52998224725") and not cpf_valid("52998224726")
    assert not cpf_valid("00000000000")
    assert cnpj_valid("11222333000181") and not cnpj_valid("11222333000182")


def test_a_card_between_other_numbers_is_found_and_each_of_many_cards_in_a_row() -> None:
    text = "order 12 4111 1111 1111 1111 2025"
    assert [(f.kind, f.value(text)) for f in detect(text)] == [("card", "4111 1111 1111 1111")]
    text = "4111 1111 1111 1111 5500-0000-0000-0004 " * 3
    found = [(f.kind, f.value(text)) for f in detect(text)]
    assert found == [("card", "4111 1111 1111 1111"), ("card", "5500-0000-0000-0004")] * 3


@pytest.mark.parametrize("text", ["+1" + "1" * 30, "+1 2 " + "3" * 30, "ring +44 " + "7" * 26])
def test_a_country_code_before_a_run_of_digits_no_phone_can_hold_is_no_phone(text: str) -> None:
    assert detect(text) == []


def test_a_phone_whose_groups_start_with_a_single_digit_is_still_found() -> None:
    text = "call +44 20 7946 0958 or +33 1 42 68 53 00"
    found = [(f.kind, f.value(text)) for f in detect(text)]
    assert found == [("phone", "+44 20 7946 0958"), ("phone", "+33 1 42 68 53 00")]
