"""Personal values from Faker (en_US and pt_BR, and a few European locales for IBANs), each in the
layouts people write them in. A value is returned with the label a layout needs in front of it
(a plain nine-digit SSN is an SSN only after "SSN:"), or an empty label."""

from __future__ import annotations

import random
import re
from urllib.parse import quote

from faker import Faker

LOCALES = ("en_US", "pt_BR", "en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL", "it_IT")
IBAN_LOCALES = ("pt_BR", "pt_BR", "en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL", "it_IT")

# Labels a plain nine-digit SSN follows (forms, HR exports, tickets).
SSN_LABELS = (
    "SSN: ",
    "SSN:",
    "SSN# ",
    "SSN ",
    "Social Security No. ",
    "social security number ",
    "SSN/TIN: ",
)


class PiiValues:
    """Makes values of the personal kinds from seeded Faker instances."""

    def __init__(self, seed: int, rng: random.Random) -> None:
        self.fakes = {}
        for index, locale in enumerate(LOCALES):
            fake = Faker(locale)
            fake.seed_instance(seed + index)
            self.fakes[locale] = fake
        self.rng = rng

    def fake(self, lang: str) -> Faker:
        return self.fakes["pt_BR" if lang == "pt" else "en_US"]

    def make(self, kind: str, lang: str) -> tuple[str, str]:
        """(label, value) of `kind`; the label is empty unless the layout needs one."""
        return getattr(self, kind)(lang)

    def email(self, lang: str) -> tuple[str, str]:
        fake = self.fake(lang)
        return "", self.rng.choice(
            (fake.email, fake.free_email, fake.company_email, fake.ascii_email)
        )()

    def phone(self, lang: str) -> tuple[str, str]:
        fake = self.fake(lang)
        if lang == "pt" and self.rng.random() < 0.4:
            return "", fake.cellphone_number()
        # An extension ("x066") is not part of the number a detector must find.
        return "", fake.phone_number().split("x")[0]

    def card(self, lang: str) -> tuple[str, str]:
        number = self.fake(lang).credit_card_number()
        layout = self.rng.randrange(3)
        if layout == 0 or len(number) not in (15, 16):
            return "", number
        groups = (4, 6, 5) if len(number) == 15 else (4, 4, 4, 4)
        parts, pos = [], 0
        for size in groups:
            parts.append(number[pos : pos + size])
            pos += size
        return "", (" " if layout == 1 else "-").join(parts)

    def iban(self, lang: str) -> tuple[str, str]:
        iban = self.fakes[
            "pt_BR" if lang == "pt" and self.rng.random() < 0.5 else self.rng.choice(IBAN_LOCALES)
        ].iban()
        if self.rng.random() < 0.5:
            return "", " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return "", iban

    def cpf(self, lang: str) -> tuple[str, str]:
        fake = self.fakes["pt_BR"]
        return "", fake.cpf() if self.rng.random() < 0.7 else re.sub(r"\D", "", fake.cpf())

    def cnpj(self, lang: str) -> tuple[str, str]:
        fake = self.fakes["pt_BR"]
        return "", fake.cnpj() if self.rng.random() < 0.7 else re.sub(r"\D", "", fake.cnpj())

    def ssn(self, lang: str) -> tuple[str, str]:
        digits = re.sub(r"\D", "", self.fakes["en_US"].ssn())
        layout = self.rng.randrange(3)
        if layout == 0:
            return "", f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
        if layout == 1:
            return "", f"{digits[:3]} {digits[3:5]} {digits[5:]}"
        return self.rng.choice(SSN_LABELS), digits

    def ip(self, lang: str) -> tuple[str, str]:
        fake = self.fake(lang)
        return "", self.rng.choice((fake.ipv4_public, fake.ipv4_private, fake.ipv4, fake.ipv6))()

    def password(self, lang: str) -> tuple[str, str]:
        fake = self.fake(lang)
        return "", fake.password(length=self.rng.randint(10, 20), special_chars=True)

    def url_password(self, lang: str) -> str:
        """A password as it is written inside a URL: percent-encoded where the URL needs it."""
        return quote(self.password(lang)[1], safe="!$&'()*+,;=_-.~")
