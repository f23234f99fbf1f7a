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
