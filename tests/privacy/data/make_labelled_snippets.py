"""Builds labelled_snippets.jsonl: English and Portuguese snippets with exact PII offsets.

The set measures the privacy detectors' precision and recall, so its labels must not come from a
detector. Every positive value is made here by the algorithm that defines it (Luhn for cards,
ISO 13616 mod-97 for IBANs, the Receita Federal check digits for CPF and CNPJ, the SSA rules for
SSNs); every hard negative is a near miss made to fail that same algorithm. Before a snippet is
kept, `find_leaks` scans its text outside the labels for anything that would count as PII under
the rules in README.md, and a snippet with a leak is drawn again, so no accidental value (a random
digit run that happens to pass Luhn, say) hides in a negative or beside a label.

The templates are data, which is why this one file runs past the usual module size: splitting
them from the algorithms would only make a reader open two files to see one snippet being made.

Stdlib only and seeded, so the output is reproducible byte for byte:
    .venv/bin/python tests/privacy/data/make_labelled_snippets.py [--out PATH] [--stats]
"""

# ruff: noqa: E501  (the templates below are sentences; wrapping them would hide what a snippet says)

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import random
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

SEED = 20240517
OUT_PATH = Path(__file__).with_name("labelled_snippets.jsonl")
POSITIVE_COPIES = 2  # each positive template is drawn this many times with fresh values
NEGATIVE_COPIES = 3  # the same for negatives with fillers; a fixed negative text appears once
MAX_DRAWS = 200
KINDS = ("email", "phone", "card", "iban", "ip", "ssn", "cpf", "cnpj", "secret")
EN, PT = "en", "pt"


# Check digits. The test file re-implements these on its own, so a slip here cannot hide itself.


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def luhn_complete(body: str) -> str:
    return next(body + d for d in string.digits if luhn_ok(body + d))


IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "BR": 29, "CH": 21, "DE": 22, "ES": 24,
    "FR": 27, "GB": 22, "IE": 22, "NL": 18, "PL": 28, "PT": 25,
}  # fmt: skip


def iban_remainder(compact: str) -> int:
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in moved)) % 97


def iban_from_bban(country: str, bban: str) -> str:
    check = 98 - iban_remainder(f"{country}00{bban}")
    return f"{country}{check:02d}{bban}"


def mod11_digit(digits: str, weights: Sequence[int]) -> str:
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return "0" if remainder < 2 else str(11 - remainder)


def cpf_check_digits(base9: str) -> str:
    first = mod11_digit(base9, range(10, 1, -1))
    return first + mod11_digit(base9 + first, range(11, 1, -1))


CNPJ_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def cnpj_check_digits(base12: str) -> str:
    first = mod11_digit(base12, CNPJ_WEIGHTS[1:])
    return first + mod11_digit(base12 + first, CNPJ_WEIGHTS)


def cpf_ok(digits: str) -> bool:
    """Repeated digits (111.111.111-11) pass the arithmetic but are never issued: not a CPF."""
    return len(digits) == 11 and len(set(digits)) > 1 and digits[9:] == cpf_check_digits(digits[:9])


def cnpj_ok(digits: str) -> bool:
    return (
        len(digits) == 14 and len(set(digits)) > 1 and digits[12:] == cnpj_check_digits(digits[:12])
    )


def ssn_ok(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# The leak scan: what would count as PII under README.md's rules, looked for outside the labels.

DIGIT_RUN = re.compile(r"(?<!\d)\d+(?:[ -]\d+)*(?!\d)")
CPF_FORMATTED = re.compile(r"(?<![\d.])\d{3}\.\d{3}\.\d{3}-\d{2}(?!\d)")
CNPJ_FORMATTED = re.compile(r"(?<![\d.])\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}(?!\d)")
PLAIN_DIGITS = re.compile(r"(?<!\d)(?:\d{11}|\d{14})(?!\d)")
IBAN_SHAPED = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?")
IPV4_SHAPED = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\d)")
IPV6_SHAPED = re.compile(r"(?<![\w:.])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}(?![\w:])")
EMAIL_SHAPED = re.compile(r"[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", re.ASCII)
SSN_SHAPED = re.compile(r"(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])")
PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|00(?=\d{1,3} ))\d{1,3}[ (]*\d(?:[ ().-]?\d){6,}")
PHONE_BR = re.compile(r"(?<![\w(])(?:\(0?\d{2}\)|0?\d{2}) (?:9 )?\d{4,5}-\d{4}(?!\d)")
SECRET_SHAPED = re.compile(
    r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}|\bAKIA[A-Z0-9]{16}\b|\bgh[op]_[A-Za-z0-9]{30,}"
    r"|\bgithub_pat_\w{30,}|\bxox[bp]-[A-Za-z0-9-]{10,}|\bAIza[\w-]{35}"
    r"|\beyJ[\w-]+\.[\w-]+\.[\w-]+|\bBearer\s+[\w.~+/=-]{20,}"
)


def ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def find_leaks(text: str) -> list[str]:
    """Everything in `text` that the README's rules would label; empty for a clean text."""
    leaks = [f"card {m[0]}" for m in DIGIT_RUN.finditer(text) if card_digits_ok(m[0])]
    leaks += [f"cpf {m[0]}" for m in CPF_FORMATTED.finditer(text) if cpf_ok(only_digits(m[0]))]
    leaks += [f"cnpj {m[0]}" for m in CNPJ_FORMATTED.finditer(text) if cnpj_ok(only_digits(m[0]))]
    leaks += [f"plain id {m[0]}" for m in PLAIN_DIGITS.finditer(text) if plain_id_ok(m[0])]
    leaks += [
        f"iban {m[0]}"
        for m in IBAN_SHAPED.finditer(text)
        if iban_remainder(m[0].replace(" ", "")) == 1
    ]
    leaks += [f"ip {m[0]}" for m in IPV4_SHAPED.finditer(text) if ip_ok(m[0])]
    leaks += [f"ip {m[0]}" for m in IPV6_SHAPED.finditer(text) if ip_ok(m[0])]
    leaks += [f"ssn {m[0]}" for m in SSN_SHAPED.finditer(text) if ssn_ok(*m.groups())]
    leaks += [f"{kind} {m[0]}" for kind, m in shape_matches(text)]
    return leaks


def shape_matches(text: str) -> list[tuple[str, re.Match[str]]]:
    found = [("email", m) for m in EMAIL_SHAPED.finditer(text)]
    found += [("phone", m) for m in PHONE_INTL.finditer(text) if len(only_digits(m[0])) >= 9]
    found += [("phone", m) for m in PHONE_BR.finditer(text)]
    return found + [("secret", m) for m in SECRET_SHAPED.finditer(text)]


def only_digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def card_digits_ok(run: str) -> bool:
    digits = only_digits(run)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def plain_id_ok(digits: str) -> bool:
    return cpf_ok(digits) if len(digits) == 11 else cnpj_ok(digits)


# Values. Each labelled maker returns (value, description); the description goes into the note.

FIRST_NAMES = (
    "john", "emily", "michael", "sarah", "david", "olivia", "priya", "wei", "liam", "chloe",
    "ana", "joao", "maria", "pedro", "lucas", "beatriz", "rafael", "juliana", "tiago", "camila",
)  # fmt: skip
LAST_NAMES = (
    "silva", "souza", "oliveira", "santos", "pereira", "costa", "ferreira", "almeida",
    "smith", "johnson", "brown", "garcia", "nguyen", "patel", "murphy", "walker",
)  # fmt: skip
EMAIL_DOMAINS = (
    "gmail.com", "outlook.com", "hotmail.com", "yahoo.com.br", "uol.com.br", "bol.com.br",
    "terra.com.br", "globo.com", "sapo.pt", "protonmail.com", "icloud.com", "acme.io",
    "example.co.uk", "empresa.com.br", "contoso.org", "cs.university.edu", "usp.br",
    "loja-online.com.br",
)  # fmt: skip
BR_AREA_CODES = (
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42,
    43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74,
    75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99,
)  # fmt: skip


@dataclass(frozen=True)
class CardBrand:
    name: str
    prefixes: tuple[str, ...]
    length: int
    groups: tuple[int, ...]
    weight: int = 1  # how often the brand is drawn: Visa and Mastercard dominate real traffic


CARD_BRANDS = (
    CardBrand("visa", ("4",), 16, (4, 4, 4, 4), weight=4),
    CardBrand("visa", ("4",), 13, (4, 3, 3, 3)),
    CardBrand(
        "mastercard", ("51", "52", "53", "54", "55", "2221", "2500", "2720"), 16, (4,) * 4, 4
    ),
    CardBrand("amex", ("34", "37"), 15, (4, 6, 5)),
    CardBrand("discover", ("6011", "644", "65"), 16, (4, 4, 4, 4)),
    CardBrand("diners", ("36", "38"), 14, (4, 6, 4)),
    CardBrand("jcb", ("3528", "3530", "3566", "3589"), 16, (4, 4, 4, 4)),
    CardBrand("elo", ("636368", "438935", "504175", "451416", "636297"), 16, (4, 4, 4, 4)),
    CardBrand("hipercard", ("606282",), 16, (4, 4, 4, 4)),
    CardBrand("maestro", ("5018", "5020", "6304"), 19, (4, 4, 4, 4, 3)),
    CardBrand("unionpay", ("62",), 16, (4, 4, 4, 4)),
)
CARD_STYLES = ("spaced", "dashed", "compact")
SECRET_STYLES = ("openai", "aws", "github", "slack", "google", "jwt")


class Values:
    """Draws every value from one seeded generator, in template order, so output is stable."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.makers: dict[str, Callable[[str], tuple[str, str]]] = {
            "email": self.email, "phone": self.phone, "card": self.card, "iban": self.iban,
            "ip": self.ip, "ssn": self.ssn, "cpf": self.cpf, "cnpj": self.cnpj,
            "secret": self.secret, "bearer": self.bearer,
        }  # fmt: skip
        self.fillers = self.filler_table()

    def digits(self, count: int, first: str = string.digits) -> str:
        if count == 0:
            return ""
        return self.rng.choice(first) + "".join(self.rng.choices(string.digits, k=count - 1))

    def chars(self, alphabet: str, count: int) -> str:
        return "".join(self.rng.choices(alphabet, k=count))

    def email(self, variant: str) -> tuple[str, str]:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        locals_ = (
            f"{first}.{last}",
            f"{first[0]}{last}",
            f"{first}_{last}{self.rng.randint(1, 99)}",
            f"{first}{self.rng.randint(1970, 2006)}",
            f"{first}.{last}+{self.rng.choice(('billing', 'news', 'loja'))}",
            self.rng.choice(("contato", "financeiro", "suporte", "billing", "support")),
        )
        local = locals_[4] if variant == "plus" else self.rng.choice(locals_)
        domain = self.rng.choice(EMAIL_DOMAINS)
        if self.rng.random() < 0.12:
            local, domain = local.title(), domain.capitalize()
        return f"{local}@{domain}", "email"

    def phone(self, variant: str) -> tuple[str, str]:
        """`br`, `intl` (any other country) or a country code such as `GB`; none: either."""
        if variant == "br" or (variant == "" and self.rng.random() < 0.5):
            return self.phone_br()
        return self.phone_intl(variant if variant.isupper() else "")

    def phone_br(self) -> tuple[str, str]:
        area = self.rng.choice(BR_AREA_CODES)
        mobile = self.rng.random() < 0.65
        head = "9" + self.digits(4, "6789") if mobile else self.digits(4, "2345")
        tail = self.digits(4)
        styles = [
            f"+55 {area} {head}-{tail}",
            f"+55 ({area}) {head}-{tail}",
            f"+55{area}{head}{tail}",
            f"({area}) {head}-{tail}",
            f"{area} {head}-{tail}",
            f"0{area} {head}-{tail}",
            f"(0{area}) {head}-{tail}",
        ]
        if mobile:
            styles.append(f"({area}) 9 {head[1:]}-{tail}")
        return self.rng.choice(styles), f"phone BR {'mobile' if mobile else 'landline'}"

    def phone_intl(self, country: str) -> tuple[str, str]:
        d = self.digits
        choices = {
            "GB": (
                f"+44 20 7946 0{d(3)}",
                f"+4420794600{d(2)}",
                f"0044 20 7946 0{d(3)}",
                f"+44 (0)20 7946 0{d(3)}",
                f"+44 7700 900{d(3)}",
            ),
            "US": (
                f"+1 (415) 555-01{d(2)}",
                f"+1 212-555-01{d(2)}",
                f"+1 617 555 01{d(2)}",
                f"+120655501{d(2)}",
                f"001 312 555 01{d(2)}",
            ),
            "DE": (f"+49 30 {d(8)}", f"+49 151 {d(8)}", f"0049 89 {d(7)}", f"+49 (0)40 {d(7)}"),
            "FR": (f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}", f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}"),
            "PT": (f"+351 91{d(1)} {d(3)} {d(3)}", f"+351 21 {d(3)} {d(4)}", f"00351 96{d(7)}"),
            "ES": (f"+34 6{d(2)} {d(3)} {d(3)}", f"+34 91 {d(3)} {d(2)} {d(2)}"),
            "IN": (f"+91 9{d(4)} {d(5)}",),
            "AR": (f"+54 9 11 {d(4)}-{d(4)}",),
            "MX": (f"+52 55 {d(4)} {d(4)}",),
            "JP": (f"+81 3-{d(4)}-{d(4)}",),
        }
        weights = (3, 3, 2, 2, 2, 2, 1, 1, 1, 1)  # UK and US numbers are the ones seen most
        country = country or self.rng.choices(list(choices), weights=weights)[0]
        return self.rng.choice(choices[country]), f"phone {country}"

    def card(self, variant: str) -> tuple[str, str]:
        brands = [b for b in CARD_BRANDS if b.name == variant] or list(CARD_BRANDS)
        brand = self.rng.choices(brands, weights=[b.weight for b in brands])[0]
        style = variant if variant in CARD_STYLES else self.rng.choice(CARD_STYLES)
        while True:
            digits = self.card_digits(brand)
            if not (len(digits) == 14 and cnpj_ok(digits)):  # a 14-digit card never reads as CNPJ
                return group_digits(digits, brand.groups, style), f"card {brand.name} {style}"

    def card_digits(self, brand: CardBrand) -> str:
        prefix = self.rng.choice(brand.prefixes)
        return luhn_complete(prefix + self.digits(brand.length - len(prefix) - 1))

    def iban(self, variant: str) -> tuple[str, str]:
        country = variant if variant in IBAN_LENGTHS else self.rng.choice(list(IBAN_LENGTHS))
        compact = iban_from_bban(country, self.bban(country))
        assert len(compact) == IBAN_LENGTHS[country]
        grouped = self.rng.random() < 0.6
        shown = (
            " ".join(compact[i : i + 4] for i in range(0, len(compact), 4)) if grouped else compact
        )
        return shown, f"iban {country} {'grouped' if grouped else 'compact'}"

    def bban(self, country: str) -> str:
        d, upper = self.digits, string.ascii_uppercase
        if country == "FR":  # the RIB key is the French national check
            bank, branch, account = d(5), d(5), d(11)
            key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97
            return f"{bank}{branch}{account}{key:02d}"
        if country == "PT":  # the NIB check digits
            nib = d(19)
            return f"{nib}{98 - int(nib + '00') % 97:02d}"
        if country == "ES":  # the two CCC control digits
            bank, branch, account = d(4), d(4), d(10)
            return f"{bank}{branch}{es_control(f'00{bank}{branch}')}{es_control(account)}{account}"
        if country == "BE":
            first = d(10)
            return f"{first}{int(first) % 97 or 97:02d}"
        if country == "BR":  # bank, branch, account, account type, holder position
            return f"{d(8)}{d(5)}{d(10)}{self.rng.choice('CP')}{self.rng.choice('12')}"
        banks = {"GB": ("NWBK", "BARC", "LOYD", "HBUK"), "IE": ("AIBK", "BOFI")}
        if country in banks:
            return self.rng.choice(banks[country]) + d(14)
        if country == "NL":
            return self.rng.choice(("ABNA", "INGB", "RABO", "TRIO")) + d(10)
        if country == "CH":
            return d(5) + self.chars(string.digits + upper, 12)
        return d(IBAN_LENGTHS[country] - 4)  # DE, AT, PL: all digits

    def ip(self, variant: str) -> tuple[str, str]:
        if variant == "doc":  # the "1.2.3.4" of manuals, and the RFC 5737 documentation ranges
            doc = ("1.2.3.4", "192.0.2.1", "198.51.100.7", "203.0.113.10")
            return self.rng.choices(doc, weights=(3, 1, 1, 1))[0], "ipv4 doc"
        if variant == "v6" or (variant == "" and self.rng.random() < 0.4):
            return self.ipv6()
        r = self.rng.randint
        shown = self.rng.choice(
            (
                f"10.{r(0, 255)}.{r(0, 255)}.{r(1, 254)}",
                f"192.168.{r(0, 255)}.{r(1, 254)}",
                f"172.{r(16, 31)}.{r(0, 255)}.{r(1, 254)}",
                f"{r(1, 223)}.{r(0, 255)}.{r(0, 255)}.{r(1, 254)}",
                f"{r(1, 223)}.{r(0, 255)}.{r(0, 255)}.{r(1, 254)}",
            )
        )
        return shown, "ipv4"

    def ipv6(self) -> tuple[str, str]:
        prefix = self.rng.choice(((0x2001, 0x0DB8), (0x2804,), (0x2A02,), (0x2600,), (0xFE80, 0)))
        groups = list(prefix) + [self.rng.randint(0, 0xFFFF) for _ in range(8 - len(prefix))]
        zero_from = self.rng.randint(len(prefix), 6)
        for i in range(zero_from, zero_from + self.rng.randint(0, 3)):
            groups[min(i, 6)] = 0
        address = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
        if self.rng.random() < 0.25:
            return address.exploded, "ipv6 full"
        return address.compressed, "ipv6 compressed"

    def ssn(self, variant: str) -> tuple[str, str]:
        while True:
            area, group, serial = self.digits(3, "012345678"), self.digits(2), self.digits(4)
            if ssn_ok(area, group, serial):
                return f"{area}-{group}-{serial}", "ssn"

    def cpf(self, variant: str) -> tuple[str, str]:
        while True:
            base = self.digits(9)
            digits = base + cpf_check_digits(base)
            plain = variant == "plain" or (variant == "" and self.rng.random() < 0.25)
            if cpf_ok(digits):
                return (digits, "cpf plain") if plain else (format_cpf(digits), "cpf formatted")

    def cnpj(self, variant: str) -> tuple[str, str]:
        while True:
            base = self.digits(8) + self.rng.choice(
                ("0001", "0001", "0002", f"00{self.rng.randint(10, 99)}")
            )
            digits = base + cnpj_check_digits(base)
            plain = variant == "plain" or (variant == "" and self.rng.random() < 0.25)
            if not cnpj_ok(digits) or (plain and luhn_ok(digits)):  # plain never reads as a card
                continue
            return (digits, "cnpj plain") if plain else (format_cnpj(digits), "cnpj formatted")

    def secret(self, variant: str) -> tuple[str, str]:
        style = variant if variant in SECRET_STYLES else self.rng.choice(SECRET_STYLES)
        alnum = string.ascii_letters + string.digits
        c = self.chars
        if style == "openai":
            if self.rng.random() < 0.5:
                return f"sk-{c(alnum, 20)}T3BlbkFJ{c(alnum, 20)}", "secret openai legacy"
            body = c(alnum + "_-", self.rng.randint(60, 90))
            return f"sk-proj-{body}T3BlbkFJ{c(alnum, 20)}", "secret openai project"
        if style == "aws":
            return "AKIA" + c(string.ascii_uppercase + "234567", 16), "secret aws"
        if style == "github":
            kind = self.rng.choice(("ghp_", "gho_", "github_pat_"))
            if kind == "github_pat_":
                return f"github_pat_{c(alnum, 22)}_{c(alnum, 59)}", "secret github fine-grained"
            return kind + c(alnum, 36), f"secret github {kind[:3]}"
        if style == "slack":
            if self.rng.random() < 0.5:
                return (
                    f"xoxb-{self.digits(12)}-{self.digits(13)}-{c(alnum, 24)}",
                    "secret slack bot",
                )
            hex_ = c("0123456789abcdef", 32)
            return (
                f"xoxp-{self.digits(12)}-{self.digits(12)}-{self.digits(13)}-{hex_}",
                "secret slack user",
            )
        if style == "google":
            return "AIza" + c(alnum + "_-", 35), "secret google"
        return self.jwt(), "secret jwt"

    def jwt(self) -> str:
        header = {"alg": self.rng.choice(("HS256", "RS256")), "typ": "JWT"}
        payload = {
            "sub": str(self.rng.randint(1000, 9_999_999)),
            "name": f"{self.rng.choice(FIRST_NAMES).title()} {self.rng.choice(LAST_NAMES).title()}",
            "iat": self.rng.randint(1_700_000_000, 1_750_000_000),
        }
        signature = self.rng.randbytes(32)
        return ".".join(
            b64url(part) for part in (json_bytes(header), json_bytes(payload), signature)
        )

    def bearer(self, variant: str) -> tuple[str, str]:
        roll = self.rng.random()
        if roll < 0.3:
            return self.jwt(), "bearer jwt"
        if roll < 0.45:
            return "ya29." + self.chars(
                string.ascii_letters + string.digits + "_-", 60
            ), "bearer google oauth"
        alphabet = string.ascii_letters + string.digits + "-_"
        return self.chars(alphabet, self.rng.randint(32, 64)), "bearer opaque"

    # Fillers: unlabelled text, most of them near misses that must fail the matching check.

    def filler_table(self) -> dict[str, Callable[[str], str]]:
        d, r, c = self.digits, self.rng.randint, self.chars
        hexdigits = "0123456789abcdef"
        return {
            "ticket": lambda v: d(5, "123456789"),
            "four": lambda v: d(4),
            "card_fail": lambda v: self.card_fail(),
            "digits16_fail": lambda v: self.luhn_fail(d(15, "123456789")),
            "card_masked": lambda v: self.card_masked(),
            "unix_ms": lambda v: self.luhn_fail(str(r(1_600_000_000_000, 1_750_000_000_000))[:-1]),
            "unix_s": lambda v: str(r(1_600_000_000, 1_750_000_000)),
            "isbn13": lambda v: self.isbn13(),
            "ean13": lambda v: self.ean13(),
            "nfe_key": lambda v: self.nfe_key(),
            "boleto": lambda v: f"{d(5)}.{d(5)} {d(5)}.{d(6)} {d(5)}.{d(6)} {d(1)} {d(14)}",
            "cns": lambda v: f"{d(3, '789')} {d(4)} {d(4)} {d(4)}",
            "titulo": lambda v: f"{d(4)} {d(4)} {d(4)}",
            "giftcode": lambda v: "-".join(
                c(string.ascii_uppercase + "23456789", 4) for _ in "abc"
            ),
            "cpf_bad": lambda v: format_cpf(self.cpf_bad()),
            "cpf_repeated": lambda v: format_cpf(self.rng.choice(string.digits) * 11),
            "cpf_masked": lambda v: f"***.{d(3)}.{d(3)}-**",
            "digits11_bad": lambda v: self.cpf_bad(),
            "rg": lambda v: f"{d(2)}.{d(3)}.{d(3)}-{self.rng.choice(string.digits + 'X')}",
            "pis": lambda v: self.pis(),
            "renavam": lambda v: self.renavam(),
            "agencia": lambda v: f"{d(4)}-{d(1)}",
            "conta": lambda v: f"{d(5)}-{d(1)}",
            "cnj_process": lambda v: f"{d(7)}-{d(2)}.{r(2015, 2024)}.8.26.{d(4)}",
            "cnpj_bad": lambda v: format_cnpj(self.cnpj_bad()),
            "digits14_bad": lambda v: self.cnpj_bad(),
            "nf_number": lambda v: f"000.{d(3)}.{d(3)}",
            "ie_sp": lambda v: f"{d(3, '3456789')}.{d(3)}.{d(3)}.{d(3)}",
            "order_po": lambda v: f"PC-{r(2021, 2024)}/{d(6)}",
            "iban_bad": lambda v: self.iban_bad(v),
            "bic": lambda v: self.rng.choice(
                ("COBADEFFXXX", "BCOMPTPL", "ITAUBRSP", "BRASBRRJ", "NWBKGB2L", "CGDIPTPL")
            ),
            "sortcode": lambda v: f"{d(2)}-{d(2)}-{d(2)}",
            "uk_account": lambda v: d(8),
            "nib": lambda v: d(21),
            "semver": lambda v: f"{r(1, 9)}.{r(0, 30)}.{r(0, 20)}",
            "py_version": lambda v: f"3.{r(8, 13)}.{r(0, 12)}",
            "chrome_version": lambda v: f"{r(110, 126)}.0.{r(5400, 6500)}.{r(20, 200)}",
            "win_build": lambda v: f"10.0.{r(19041, 26100)}.{r(1000, 4999)}",
            "ip_bad": lambda v: self.ip_bad(),
            "ip3": lambda v: self.rng.choice(("10.0.0", "192.168.1", f"172.{r(16, 31)}.0")),
            "oid": lambda v: f"1.3.6.1.4.1.{r(300, 60000)}.{r(1, 30)}",
            "mac": lambda v: ":".join(c("0123456789ABCDEF", 2) for _ in range(6)),
            "section": lambda v: f"{r(1, 12)}.{r(1, 9)}.{r(1, 9)}",
            "time_hms": lambda v: f"{r(0, 23):02d}:{r(0, 59):02d}:{r(0, 59):02d}",
            "app_version": lambda v: f"{r(1, 9)}.{r(0, 20)}.{r(0, 9)}",
            "build": lambda v: f"{r(2022, 2024)}{r(1, 12):02d}{r(1, 28):02d}",
            "ssn_bad": lambda v: self.ssn_bad(),
            "itin": lambda v: f"9{d(2)}-{r(70, 88)}-{d(4)}",
            "ein": lambda v: f"{d(2, '123456789')}-{d(7)}",
            "handle": lambda v: self.handle(),
            "user_at": lambda v: f"{self.handle()}@",
            "user_host": lambda v: (
                f"{self.rng.choice(('root', 'admin', 'deploy', 'joao'))}@"
                + self.rng.choice(("localhost", "intranet", "servidor", "buildbox"))
            ),
            "ext": lambda v: d(self.rng.choice((3, 4)), "123456789"),
            "zip4": lambda v: f"{d(5)}-{d(4)}",
            "cep": lambda v: f"{d(5)}-{d(3)}",
            "otp": lambda v: d(6),
            "page_range": lambda v: f"{r(10, 150)}-{r(151, 300)}",
            "date_iso": lambda v: f"{r(2019, 2025)}-{r(1, 12):02d}-{r(1, 28):02d}",
            "date_br": lambda v: f"{r(1, 28):02d}/{r(1, 12):02d}/{r(2019, 2025)}",
            "date_us": lambda v: f"{r(1, 12):02d}/{r(1, 28):02d}/{r(2019, 2025)}",
            "time_hm": lambda v: f"{r(7, 20):02d}:{self.rng.choice(('00', '15', '30', '45'))}",
            "time_open": lambda v: f"{r(7, 10):02d}:{self.rng.choice(('00', '30'))}",
            "time_close": lambda v: f"{r(16, 20):02d}:{self.rng.choice(('00', '30'))}",
            "iso_ts": lambda v: (
                f"{r(2022, 2025)}-{r(1, 12):02d}-{r(1, 28):02d}T"
                f"{r(0, 23):02d}:{r(0, 59):02d}:{r(0, 59):02d}Z"
            ),
            "usd": lambda v: f"${r(1, 9999):,}.{r(0, 99):02d}",
            "brl": lambda v: f"R$ {r(1, 99999):,}".replace(",", ".") + f",{r(0, 99):02d}",
            "eur": lambda v: f"€{r(1, 9999):,}".replace(",", ".") + f",{r(0, 99):02d}",
            "order_short": lambda v: self.rng.choice((d(5, "123456789"), f"A-{d(6)}")),
            "ups": lambda v: f"1Z{c(string.ascii_uppercase + string.digits, 6)}03{d(8)}",
            "tracking_br": lambda v: self.tracking_br(),
            "flight": lambda v: d(4, "123456789"),
            "decimal_br": lambda v: f"{r(500, 850)},{d(2)}",
            "uuid": lambda v: (
                f"{c(hexdigits, 8)}-{c(hexdigits, 4)}-4{c(hexdigits, 3)}-"
                f"{self.rng.choice('89ab')}{c(hexdigits, 3)}-{c(hexdigits, 12)}"
            ),
            "sha40": lambda v: c(hexdigits, 40),
            "sha7": lambda v: c(hexdigits, 7),
            "sha256": lambda v: c(hexdigits, 64),
        }

    def luhn_fail(self, body: str) -> str:
        right = luhn_complete(body)
        return right[:-1] + str((int(right[-1]) + self.rng.randint(1, 9)) % 10)

    def card_fail(self) -> str:
        brand = self.rng.choice(CARD_BRANDS)
        digits = self.luhn_fail(self.card_digits(brand)[:-1])
        return group_digits(digits, brand.groups, self.rng.choice(CARD_STYLES))

    def card_masked(self) -> str:
        shown = luhn_complete("4" + self.digits(14))
        return self.rng.choice(
            (
                f"**** **** **** {shown[-4:]}",
                f"{shown[:6]}******{shown[-4:]}",
                f"{shown[:4]} {shown[4:6]}** **** {shown[-4:]}",
            )
        )

    def isbn13(self) -> str:
        while True:
            group = self.rng.choice(("0", "1", "85", "65"))
            publisher = self.digits(self.rng.randint(2, 4))
            title = self.digits(9 - len(group) - len(publisher))
            digits = ean_complete(f"978{group}{publisher}{title}")
            if not luhn_ok(digits):
                return f"978-{group}-{publisher}-{title}-{digits[-1]}"

    def ean13(self) -> str:
        while True:
            digits = ean_complete("789" + self.digits(9))
            if not luhn_ok(digits):
                return digits

    def nfe_key(self) -> str:
        """The 44-digit NF-e access key; the issuer's CNPJ sits inside it, as in real keys."""
        cnpj, _ = self.cnpj("plain")
        body = f"35{self.rng.randint(19, 24)}{self.rng.randint(1, 12):02d}{cnpj}55001"
        body += self.digits(9) + "1" + self.digits(8)
        key = body + mod11_nfe_digit(body)
        if self.rng.random() < 0.5:
            return key
        return " ".join(key[i : i + 4] for i in range(0, 44, 4))

    def cpf_bad(self) -> str:
        base = self.digits(9)
        right = cpf_check_digits(base)
        wrong = f"{(int(right) + self.rng.randint(1, 99)) % 100:02d}"
        return base + wrong

    def cnpj_bad(self) -> str:
        base = self.digits(8) + "0001"
        right = cnpj_check_digits(base)
        return base + f"{(int(right) + self.rng.randint(1, 99)) % 100:02d}"

    def pis(self) -> str:
        while True:
            base = self.digits(10, "123")
            digit = 11 - sum(int(x) * w for x, w in zip(base, PIS_WEIGHTS, strict=True)) % 11
            digits = base + str(0 if digit >= 10 else digit)
            if not cpf_ok(digits):
                return f"{digits[:3]}.{digits[3:8]}.{digits[8:10]}-{digits[10]}"

    def renavam(self) -> str:
        while True:
            base = self.digits(10)
            digit = sum(int(x) * w for x, w in zip(base, PIS_WEIGHTS, strict=True)) * 10 % 11
            digits = base + str(digit % 10)
            if not cpf_ok(digits):
                return digits

    def iban_bad(self, variant: str) -> str:
        country = variant if variant in IBAN_LENGTHS else self.rng.choice(list(IBAN_LENGTHS))
        compact = iban_from_bban(country, self.bban(country))
        if self.rng.random() < 0.5:  # wrong check digits
            check = (int(compact[2:4]) + self.rng.randint(1, 90)) % 97 + 2
            compact = f"{compact[:2]}{check:02d}{compact[4:]}"
        else:  # one mistyped digit in the account part
            i = self.rng.choice([i for i, ch in enumerate(compact) if i > 4 and ch.isdigit()])
            compact = (
                compact[:i]
                + str((int(compact[i]) + self.rng.randint(1, 9)) % 10)
                + compact[i + 1 :]
            )
        if self.rng.random() < 0.5:
            return compact
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))

    def ip_bad(self) -> str:
        octets = [str(self.rng.randint(0, 255)) for _ in range(4)]
        octets[self.rng.randrange(4)] = str(self.rng.randint(256, 999))
        return ".".join(octets)

    def ssn_bad(self) -> str:
        d = self.digits
        return self.rng.choice(
            (
                f"000-{d(2, '123456789')}-{d(4)}",
                f"666-{d(2, '123456789')}-{d(4)}",
                f"9{d(2)}-{d(2, '123456789')}-{d(4)}",
                f"{d(3, '12345678')}-00-{d(4)}",
                f"{d(3, '12345678')}-{d(2, '123456789')}-0000",
            )
        )

    def handle(self) -> str:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        return self.rng.choice((f"{first}_{last}", f"{first}.{last}", f"{first}{last[:3]}dev"))

    def tracking_br(self) -> str:
        body = self.digits(8)
        total = sum(int(x) * w for x, w in zip(body, (8, 6, 4, 2, 3, 5, 9, 7), strict=True)) % 11
        check = 5 if total == 0 else 0 if total == 1 else 11 - total
        return f"{self.rng.choice(('QB', 'LB', 'NL', 'OA', 'PW'))}{body}{check}BR"


PIS_WEIGHTS = (3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def ean_complete(body12: str) -> str:
    total = sum(int(x) * (3 if i % 2 else 1) for i, x in enumerate(body12))
    return body12 + str(-total % 10)


def mod11_nfe_digit(body43: str) -> str:
    weights = [2 + i % 8 for i in range(43)]
    total = sum(int(x) * w for x, w in zip(reversed(body43), weights, strict=True)) % 11
    return "0" if total < 2 else str(11 - total)


def es_control(digits: str) -> str:
    weights = (1, 2, 4, 8, 5, 10, 9, 7, 3, 6)
    value = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return str({10: 1, 11: 0}.get(value, value))


def group_digits(digits: str, groups: tuple[int, ...], style: str) -> str:
    if style == "compact":
        return digits
    parts, start = [], 0
    for size in groups:
        parts.append(digits[start : start + size])
        start += size
    return (" " if style == "spaced" else "-").join(parts)


def format_cpf(digits: str) -> str:
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


def format_cnpj(digits: str) -> str:
    return f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def json_bytes(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# Templates: [[kind]] or [[kind:variant]] is a labelled value, [[~filler]] unlabelled text.


@dataclass(frozen=True)
class Template:
    group: str  # the kind shown (positives, "mixed" for several) or imitated (negatives)
    lang: str
    text: str
    note: str


def templates(group: str, rows: Sequence[tuple[str, str, str]]) -> list[Template]:
    return [Template(group, lang, text, note) for lang, text, note in rows]


POSITIVES = [
    *templates("email", [
        (EN, "Hi, I can't log in. My account email is [[email]] and the reset link never arrives.", "support request"),
        (EN, "[[email]] is the address I registered with, please update it on the invoice.", "value at the start"),
        (EN, "Please send the invoice to our billing contact (email: [[email]]).", "inside parentheses"),
        (EN, '{"tool": "send_email", "arguments": {"to": "[[email]]", "subject": "Quarterly report"}}', "tool-call JSON"),
        (EN, "2024-05-17T10:32:11Z INFO auth: password reset requested for user=[[email]] via web", "log line"),
        (EN, "Can you draft a polite reply to [[email]]? He asked about the delayed shipment.", "drafting request"),
        (EN, "CC me on the thread, my work address is <[[email]]>.", "inside angle brackets"),
        (EN, "Why does the signup form reject [[email:plus]] as invalid? It has a plus sign.", "plus-addressing"),
        (EN, "[Email us](mailto:[[email]]) is the link in our footer, is the markdown right?", "mailto link, only the address labelled"),
        (EN, 'git config --global user.email "[[email]]"', "shell command"),
        (EN, "Contact: [[email]]", "value at the end"),
    ]),
    *templates("email", [
        (PT, "Olá, não consigo acessar minha conta. O e-mail cadastrado é [[email]].", "pedido de suporte"),
        (PT, "[[email]] — esse é o e-mail certo, o outro está desatualizado.", "valor no início"),
        (PT, "Por favor, envie o boleto para o financeiro (e-mail: [[email]]).", "entre parênteses"),
        (PT, '{"acao": "cadastrar_cliente", "dados": {"nome": "Maria Souza", "email": "[[email]]"}}', "JSON de ferramenta"),
        (PT, "Pode escrever um e-mail de desculpas para [[email]] sobre o atraso na entrega?", "pedido de redação"),
        (PT, "Meu e-mail mudou: antes era [[email]], agora é [[email]].", "dois e-mails"),
        (PT, "erro 550 ao enviar para [[email]]: caixa postal cheia", "log de envio"),
        (PT, "Quero cancelar a assinatura vinculada ao e-mail [[email]], como faço?", "cancelamento"),
        (PT, "Nome: Carla Mendes\nE-mail: [[email]]\nMensagem: gostaria de um orçamento.", "formulário"),
        (PT, "Contato para dúvidas: [[email]]", "valor no fim"),
    ]),
    *templates("phone", [
        (EN, "Please call me back on [[phone:GB]] after 6pm UK time.", "callback request"),
        (EN, "[[phone:intl]] is my mobile, the landline is disconnected.", "value at the start"),
        (EN, "Update the delivery contact (phone: [[phone:intl]]) for order #[[~ticket]].", "inside parentheses"),
        (EN, '{"name": "create_contact", "arguments": {"phone": "[[phone:intl]]", "label": "mobile"}}', "tool-call JSON"),
        (EN, "The customer says WhatsApp on [[phone:br]] never gets the verification code.", "Brazilian number in English text"),
        (EN, "Call log:\n09:14 outgoing [[phone:intl]] 3m12s\n09:31 incoming [[phone:intl]] 0m48s", "call log"),
        (EN, "Is [[phone:intl]] a landline or a mobile number?", "question"),
        (EN, "Our Lisbon office answers at [[phone:PT]], ask for Rui.", "office number"),
        (EN, "Can you format this for a business card: Jane Doe, Sales, [[phone:US]]", "business card"),
        (EN, "My number is [[phone:intl]]", "value at the end"),
    ]),
    *templates("phone", [
        (PT, "Meu celular é [[phone:br]], pode me chamar no WhatsApp.", "pedido de contato"),
        (PT, "[[phone:br]] é o telefone da loja, mas ninguém atende.", "valor no início"),
        (PT, "Atualize o telefone de contato (tel.: [[phone:br]]) no meu cadastro.", "entre parênteses"),
        (PT, '{"funcao": "agendar_visita", "parametros": {"telefone": "[[phone:br]]", "data": "2024-06-03"}}', "JSON de ferramenta"),
        (PT, "Liguei para [[phone:br]] três vezes e caiu na caixa postal.", "reclamação"),
        (PT, "Recebi uma ligação de [[phone:br]] dizendo ser do banco, é golpe?", "suspeita de golpe"),
        (PT, "Telefone fixo: [[phone:br]] / Celular: [[phone:br]]", "dois telefones"),
        (PT, "Meu primo mora fora, o número dele é [[phone:intl]].", "número internacional"),
        (PT, "Cliente: Roberto Lima, tel [[phone:br]], reclamação sobre cobrança em duplicidade.", "registro de atendimento"),
        (PT, "Pode me ligar? [[phone:br]]", "valor no fim"),
    ]),
    *templates("card", [
        (EN, "I was charged twice on my card [[card]], can you refund one of them?", "refund request"),
        (EN, "[[card]] was declined at checkout even though I have funds.", "value at the start"),
        (EN, "Payment details (card: [[card]], exp 08/27) were entered but the page froze.", "inside parentheses"),
        (EN, '{"method": "charge", "params": {"card_number": "[[card:compact]]", "amount": 4999, "currency": "usd"}}', "tool-call JSON"),
        (EN, "stripe.error.CardError: Your card was declined. card=[[card:compact]] decline_code=insufficient_funds", "error log"),
        (EN, "Why does my Amex [[card:amex]] keep failing on your site?", "Amex grouping 4-6-5"),
        (EN, "Please remove the saved card [[card]] from my account.", "account change"),
        (EN, "My corporate card number is [[card]], is it accepted for international orders?", "question"),
        (EN, 'card_number = "[[card]]"  # TODO: remove before commit', "code snippet"),
        (EN, "Test with this card: [[card]]", "value at the end"),
    ]),
    *templates("card", [
        (PT, "Fui cobrado duas vezes no cartão [[card]], podem estornar?", "pedido de estorno"),
        (PT, "[[card]] foi recusado na compra, mas tenho limite.", "valor no início"),
        (PT, "Dados do pagamento (cartão: [[card]], validade 11/26) e a tela travou depois disso.", "entre parênteses"),
        (PT, '{"metodo": "cobrar", "params": {"numero_cartao": "[[card:compact]]", "valor": "149,90"}}', "JSON de ferramenta"),
        (PT, "Meu cartão Elo [[card:elo]] não passa no site de vocês.", "bandeira Elo"),
        (PT, "Cartão Hipercard [[card:hipercard]], parcelado em 3x, compra não aprovada.", "bandeira Hipercard"),
        (PT, "Quero cancelar o cartão adicional de número [[card]].", "cancelamento"),
        (PT, "Usei o cartão [[card]] no mercado e apareceu uma compra que não fiz.", "contestação"),
        (PT, "log: pagamento recusado cartao=[[card:compact]] motivo=saldo_insuficiente", "log"),
        (PT, "O número do cartão é [[card]]", "valor no fim"),
    ]),
    *templates("iban", [
        (EN, "Please wire the deposit to IBAN [[iban]] before Friday.", "payment instruction"),
        (EN, "[[iban]] is our new account, the old one is closed.", "value at the start"),
        (EN, "Bank details (IBAN: [[iban]], BIC: DEUTDEFF) are attached to the invoice.", "inside parentheses"),
        (EN, '{"action": "create_payout", "beneficiary": {"iban": "[[iban]]", "name": "Acme GmbH"}}', "tool-call JSON"),
        (EN, "Is [[iban:GB]] a valid UK IBAN?", "question"),
        (EN, "My salary should go to [[iban:DE]] from next month.", "salary change"),
        (EN, "Refund failed: beneficiary account [[iban]] rejected by the receiving bank", "error log"),
        (EN, "Rent payments: IBAN [[iban:NL]], reference APT-12B", "rent"),
        (EN, "Our supplier in Porto gave us [[iban:PT]] for the transfer.", "supplier"),
        (EN, "Can you check the checksum of [[iban]]", "value at the end"),
    ]),
    *templates("iban", [
        (PT, "Para transferências internacionais, use o IBAN [[iban:BR]].", "instrução de pagamento"),
        (PT, "[[iban:PT]] é o IBAN da minha conta em Portugal.", "valor no início"),
        (PT, "Dados bancários (IBAN: [[iban:PT]], titular: Joana Reis) para o reembolso.", "entre parênteses"),
        (PT, '{"operacao": "transferencia", "destino": {"iban": "[[iban:BR]]", "moeda": "EUR"}}', "JSON de ferramenta"),
        (PT, "Recebi um pedido de pagamento para o IBAN [[iban:ES]], é seguro?", "suspeita de golpe"),
        (PT, "Meu IBAN mudou para [[iban:PT]], podem atualizar?", "atualização"),
        (PT, "O banco devolveu a transferência para [[iban:FR]] alegando dados incorretos.", "devolução"),
        (PT, "Como recebo do exterior? O gerente me passou o IBAN [[iban:BR]] mas não sei se está certo.", "dúvida"),
        (PT, "IBAN do fornecedor alemão: [[iban:DE]]", "fornecedor"),
        (PT, "Pagamento da propina: [[iban:PT]]", "valor no fim"),
    ]),
    *templates("ip", [
        (EN, "Our server at [[ip:v4]] stopped responding after the update.", "outage report"),
        (EN, "[[ip]] keeps hammering the login endpoint, how do I block it?", "value at the start"),
        (EN, "Whitelist my office (IP: [[ip]]) on the firewall, please.", "inside parentheses"),
        (EN, '{"tool": "block_ip", "arguments": {"address": "[[ip]]", "duration_s": 3600}}', "tool-call JSON"),
        (EN, '[[ip:v4]] - - [17/May/2024:10:32:11 +0000] "GET /api/v1/users HTTP/1.1" 200 512', "access log"),
        (EN, "ssh: connect to host [[ip:v6]] port 22: Connection refused", "IPv6 in an error"),
        (EN, "The app listens on http://[[[ip:v6]]]:8080/ but the browser can't reach it.", "IPv6 in a URL, brackets not labelled"),
        (EN, "nginx: bind() to [[ip:v4]]:8080 failed (98: Address already in use)", "address with a port, port not labelled"),
        (EN, "Replace [[ip:doc]] in the config with your server's address.", "documentation address, still an IPv4 by the shape rule"),
        (EN, "Set the DNS servers to [[ip:v4]] and [[ip]]", "two addresses, value at the end"),
    ]),
    *templates("ip", [
        (PT, "Meu servidor no IP [[ip:v4]] parou de responder depois da atualização.", "queda"),
        (PT, "[[ip]] está tentando logar no painel a cada segundo, como bloqueio?", "valor no início"),
        (PT, "Libera o IP do escritório (IP: [[ip]]) no firewall, por favor.", "entre parênteses"),
        (PT, '{"ferramenta": "liberar_acesso", "argumentos": {"ip": "[[ip]]", "porta": 5432}}', "JSON de ferramenta"),
        (PT, "Erro: conexão recusada em [[ip:v6]] porta 443", "IPv6 em erro"),
        (PT, "O roteador mostra o IPv6 [[ip:v6]], isso é público?", "dúvida sobre IPv6"),
        (PT, "psql -h [[ip:v4]] -U app -d vendas", "comando"),
        (PT, "Acesso suspeito de [[ip]] às 03:12 de hoje.", "alerta de segurança"),
        (PT, "No manual o exemplo é [[ip:doc]], troco pelo IP do meu servidor?", "endereço de documentação, IPv4 pela regra da forma"),
        (PT, "O IP do meu modem é [[ip:v4]]", "valor no fim"),
    ]),
    *templates("ssn", [
        (EN, "I need to update my tax form, my SSN is [[ssn]].", "tax form"),
        (EN, "[[ssn]] is the social security number on the W-2, but the employer typed it wrong.", "value at the start"),
        (EN, "Applicant details (SSN: [[ssn]], DOB 04/12/1988) are below, can you fill the form?", "inside parentheses"),
        (EN, '{"function": "verify_identity", "args": {"ssn": "[[ssn]]", "last_name": "Miller"}}', "tool-call JSON"),
        (EN, "Why does the IRS site reject [[ssn]]?", "question"),
        (EN, "SSN [[ssn]] appears twice in the payroll export, which row is correct?", "payroll"),
        (EN, "name,ssn,state\nJohn Carter,[[ssn]],TX\nLinda Park,[[ssn]],CA", "CSV"),
        (EN, "Credit check for my wife: social security number [[ssn]], married filing jointly.", "credit check"),
        (EN, "The background check portal asks for the SSN ([[ssn]]) again.", "portal"),
        (EN, "My social is [[ssn]]", "value at the end"),
    ]),
    *templates("ssn", [
        (PT, "Moro nos EUA e preciso preencher o formulário, meu SSN é [[ssn]].", "formulário americano"),
        (PT, "[[ssn]] é o número do Social Security do meu marido, está certo no formulário?", "valor no início"),
        (PT, "O empregador americano pediu meu SSN ([[ssn]]) por e-mail, é seguro mandar?", "entre parênteses"),
        (PT, '{"formulario": "W-4", "campos": {"ssn": "[[ssn]]", "estado": "FL"}}', "JSON de ferramenta"),
        (PT, "Traduz essa carta do IRS? Ela cita o SSN [[ssn]] e pede documentos.", "tradução"),
        (PT, "O banco em Miami recusou a abertura de conta com o SSN [[ssn]].", "abertura de conta"),
        (PT, "Pode preencher: nome Ana Ribeiro, SSN [[ssn]], endereço em Newark.", "formulário"),
        (PT, "Meu social security: [[ssn]]", "valor no fim"),
    ]),
    *templates("cpf", [
        (PT, "Meu CPF é [[cpf]], podem verificar meu cadastro?", "cadastro"),
        (PT, "[[cpf]] é o CPF do titular da conta.", "valor no início"),
        (PT, "Emitir nota fiscal (CPF: [[cpf]]) para a compra de ontem.", "entre parênteses"),
        (PT, '{"funcao": "consultar_cliente", "argumentos": {"cpf": "[[cpf]]"}}', "JSON de ferramenta"),
        (PT, '{"cpf": "[[cpf:plain]]", "nome": "Paulo Henrique", "nascimento": "1990-03-15"}', "JSON, CPF só dígitos"),
        (PT, "O sistema diz que o CPF [[cpf:plain]] já está cadastrado, mas eu nunca criei conta.", "CPF só dígitos"),
        (PT, "Dependente: Lucas Alves, CPF [[cpf]]; titular: Marta Alves, CPF [[cpf]]", "dois CPFs"),
        (PT, "Gere um contrato de aluguel para o locatário inscrito no CPF sob o nº [[cpf]].", "contrato"),
        (PT, "SELECT * FROM clientes WHERE cpf = '[[cpf:plain]]';", "SQL"),
        (PT, "CPF na nota? Sim: [[cpf]]", "valor no fim"),
    ]),
    *templates("cpf", [
        (EN, "My Brazilian tax ID (CPF) is [[cpf]], the checkout asks for it.", "checkout"),
        (EN, "[[cpf:plain]] is what I typed in the CPF field, is that the right format?", "value at the start"),
        (EN, '{"customer": {"country": "BR", "cpf": "[[cpf]]"}}', "JSON"),
        (EN, "For the Brazil shipment the courier needs the recipient's CPF, [[cpf]].", "shipping"),
        (EN, "Error 422: document [[cpf:plain]] already linked to another account", "error log"),
        (EN, "Add the CPF ([[cpf]]) to my invoice please.", "inside parentheses"),
        (EN, "Can you validate this CPF? [[cpf]]", "value at the end"),
        (EN, "CPF: [[cpf]]", "label and value only"),
    ]),
    *templates("cnpj", [
        (PT, "A nota deve sair no CNPJ [[cnpj]], não no meu CPF.", "nota fiscal"),
        (PT, "[[cnpj]] é o CNPJ da empresa fornecedora.", "valor no início"),
        (PT, "Razão social: Padaria Pão Quente LTDA (CNPJ: [[cnpj]])", "entre parênteses"),
        (PT, '{"acao": "emitir_nfe", "destinatario": {"cnpj": "[[cnpj:plain]]", "uf": "SP"}}', "JSON, CNPJ só dígitos"),
        (PT, "Consulta o CNPJ [[cnpj]] pra mim, quero saber se está ativo.", "consulta"),
        (PT, "O boleto veio com o CNPJ [[cnpj:plain]] do beneficiário, confere?", "CNPJ só dígitos"),
        (PT, "Contrato entre a Contratante, inscrita no CNPJ sob o nº [[cnpj]], e a Contratada.", "contrato"),
        (PT, "Erro na importação: linha 14, cnpj=[[cnpj:plain]] duplicado", "log"),
        (PT, "Minha MEI tem o CNPJ [[cnpj]], posso emitir nota para o exterior?", "MEI"),
        (PT, "CNPJ: [[cnpj]]", "valor no fim"),
    ]),
    *templates("cnpj", [
        (EN, "Our Brazilian subsidiary's CNPJ is [[cnpj]].", "company data"),
        (EN, "The invoice lists CNPJ [[cnpj:plain]], is that the supplier or the buyer?", "plain digits"),
        (EN, '{"vendor": {"name": "Tech Solutions Ltda", "cnpj": "[[cnpj]]"}}', "JSON"),
        (EN, "[[cnpj]] should be added to the vendor master data.", "value at the start"),
        (EN, "Vendor onboarding (tax id: CNPJ [[cnpj]]) is pending compliance review.", "inside parentheses"),
        (EN, "supplier_cnpj=[[cnpj:plain]] status=blocked reason=missing_docs", "log"),
        (EN, "Can you check whether this CNPJ is still active? [[cnpj]]", "value at the end"),
        (EN, "Send the PO to the company registered under CNPJ [[cnpj]]", "purchase order"),
    ]),
    *templates("secret", [
        (EN, 'My code fails with 401: client = OpenAI(api_key="[[secret:openai]]")', "OpenAI key in code"),
        (EN, "[[secret:aws]] is the access key id from the leaked .env, should I rotate it?", "value at the start"),
        (EN, 'curl https://api.example.com/v1/me -H "Authorization: Bearer [[bearer]]"', "bearer header, token only labelled"),
        (EN, '{"tool": "http_request", "arguments": {"url": "https://api.github.com/user", "token": "[[secret:github]]"}}', "tool-call JSON"),
        (EN, "export SLACK_BOT_TOKEN=[[secret:slack]]", "shell export"),
        (EN, "Why is Maps returning REQUEST_DENIED with key=[[secret:google]]?", "Google key in a URL parameter"),
        (EN, "Decode this JWT for me: [[secret:jwt]]", "JWT"),
        (EN, "AWS_ACCESS_KEY_ID=[[secret:aws]]\nAWS_REGION=us-east-1", ".env file"),
        (EN, "git push failed with my token ([[secret:github]]), what scopes do I need?", "inside parentheses"),
        (EN, "Request headers: Authorization: Bearer [[bearer]] Content-Type: application/json", "bearer in pasted headers"),
        (EN, "The webhook sends header X-Api-Key: [[secret]] on every call.", "API key header"),
        (EN, "OPENAI_API_KEY=[[secret:openai]]", "value at the end"),
    ]),
    *templates("secret", [
        (PT, 'Meu código dá erro 401: openai.api_key = "[[secret:openai]]"', "chave OpenAI no código"),
        (PT, "[[secret:github]] é o token que usei no CI, preciso revogar?", "valor no início"),
        (PT, 'Testei com curl -H "Authorization: Bearer [[bearer]]" e deu 403.', "cabeçalho Bearer, só o token rotulado"),
        (PT, '{"ferramenta": "chamar_api", "argumentos": {"cabecalhos": {"Authorization": "Bearer [[bearer]]"}}}', "JSON de ferramenta"),
        (PT, "Vazou a chave da AWS ([[secret:aws]]) num commit público, o que faço?", "entre parênteses"),
        (PT, "O token do bot do Slack é [[secret:slack]], mas ele não posta no canal.", "Slack"),
        (PT, "Minha chave da API do Google Maps ([[secret:google]]) parou de funcionar.", "Google"),
        (PT, "Esse JWT expirou? [[secret:jwt]]", "JWT"),
        (PT, "configurei GITHUB_TOKEN=[[secret:github]] no .env e o deploy continua falhando", ".env"),
        (PT, "chave da openai: [[secret:openai]]", "valor no fim"),
    ]),
    *templates("mixed", [
        (EN, "Hi, I'm locked out. Email: [[email]], phone: [[phone:US]]. Please help!", "email and phone"),
        (EN, '{"name": "create_customer", "arguments": {"email": "[[email]]", "phone": "[[phone:intl]]", "card": "[[card:compact]]"}}', "three kinds in tool-call JSON"),
        (EN, "[[ip:v4]] login failed for [[email]] (attempt 5)", "IP at the start, email"),
        (EN, "Refund to card [[card]] failed, please send it to IBAN [[iban]] instead.", "card and IBAN"),
        (EN, "SSN [[ssn]], email [[email]]. That's all the form needs, right?", "SSN and email"),
        (EN, "POST /v1/chat from [[ip:v6]] with Authorization: Bearer [[bearer]]", "IPv6 and bearer token"),
        (EN, "Vendor: CNPJ [[cnpj]], contact [[email]], phone [[phone:br]]", "CNPJ, email, phone"),
        (EN, "Found in a public pastebin: [[secret:aws]] and [[email]]", "key and email"),
        (EN, "Billing profile\nName: Tom Reed\nEmail: [[email]]\nCard: [[card]]\nIP at signup: [[ip:v4]]", "profile dump"),
        (EN, "Wire to [[iban]] and confirm at [[email]]", "IBAN and email at the end"),
        (EN, "user [[email]] connected from [[ip]]", "log line"),
        (EN, "Contact me at [[phone:intl]] or [[email]]", "phone and email"),
    ]),
    *templates("mixed", [
        (PT, "Oi, não consigo entrar. E-mail: [[email]], celular: [[phone:br]].", "e-mail e celular"),
        (PT, '{"funcao": "cadastrar", "argumentos": {"cpf": "[[cpf]]", "email": "[[email]]", "telefone": "[[phone:br]]"}}', "três tipos em JSON"),
        (PT, "[[cpf]] e [[cnpj]]: preciso da nota no CNPJ, não no CPF.", "CPF no início e CNPJ"),
        (PT, "O estorno no cartão [[card]] não caiu; podem depositar no IBAN [[iban:PT]]?", "cartão e IBAN"),
        (PT, "Acesso de [[ip:v4]] com o token [[secret:github]] às 02:14, é invasão?", "IP e token"),
        (PT, "Nome: José Almeida\nCPF: [[cpf]]\nTelefone: [[phone:br]]\nE-mail: [[email]]", "ficha cadastral"),
        (PT, "Fornecedor [[cnpj]], contato [[email]]", "CNPJ e e-mail"),
        (PT, "log: falha de login usuario=[[email]] ip=[[ip:v4]]", "log"),
        (PT, "Favor cobrar no cartão [[card]] e enviar o recibo para [[email]]", "cartão e e-mail"),
        (PT, "CNPJ [[cnpj]] / tel. [[phone:br]] / IBAN [[iban:BR]]", "três tipos"),
        (PT, "A chave [[secret:openai]] vazou junto com o e-mail [[email]]", "chave e e-mail"),
        (PT, "Meu SSN é [[ssn]] e meu CPF é [[cpf]], tenho dupla residência fiscal.", "SSN e CPF"),
        (PT, "Chamado aberto por [[email]] (tel.: [[phone:br]])", "e-mail e telefone entre parênteses"),
        (PT, "Paguei com o cartão [[card:compact]] a partir do IP [[ip]]", "cartão e IP"),
    ]),
]  # fmt: skip

NEGATIVES = [
    *templates("card", [
        (EN, "I typed [[~card_fail]] at checkout and it says the card number is invalid. Did I swap two digits?", "card-shaped, fails Luhn"),
        (EN, "Order [[~digits16_fail]] was placed yesterday, when will it ship?", "16-digit order number, fails Luhn"),
        (EN, "Saved card: [[~card_masked]] (exp 09/27). Can I change the billing address?", "masked card: BIN and last four at most"),
        (EN, "The receipt says card ending in [[~four]], approved for [[~usd]].", "last four digits only"),
        (EN, "Event timestamp [[~unix_ms]] is in milliseconds, is that UTC?", "13-digit epoch milliseconds, fails Luhn"),
        (EN, "Is ISBN [[~isbn13]] the second edition of the book?", "ISBN-13 with a correct EAN check digit, fails Luhn"),
        (EN, "Scan failed for barcode [[~ean13]] at register 4.", "EAN-13 barcode, fails Luhn"),
        (EN, "Invoice no. [[~digits16_fail]] is still unpaid according to your portal.", "16-digit invoice number, fails Luhn"),
        (EN, "Gift card code [[~giftcode]] shows a zero balance.", "alphanumeric gift-card code, not a payment card number"),
        (EN, "Our test suite uses [[~card_fail]] to check that invalid cards are rejected.", "card-shaped, fails Luhn"),
    ]),
    *templates("card", [
        (PT, "Digitei [[~card_fail]] e o site diz que o número do cartão é inválido. Troquei algum dígito?", "formato de cartão, falha no Luhn"),
        (PT, "Pedido número [[~digits16_fail]], quando vai ser entregue?", "número de pedido de 16 dígitos, falha no Luhn"),
        (PT, "Cartão salvo: [[~card_masked]]. Como troco o endereço de cobrança?", "cartão mascarado"),
        (PT, "Compra aprovada no cartão final [[~four]] no valor de [[~brl]].", "só os quatro últimos dígitos"),
        (PT, "Chave de acesso da NF-e: [[~nfe_key]]", "chave de NF-e de 44 dígitos: um só token, não é cartão, e contém o CNPJ do emitente, que não é rotulado (valores são tokens inteiros)"),
        (PT, "Linha digitável do boleto: [[~boleto]]. Posso pagar depois do vencimento?", "linha digitável de boleto (47 dígitos em blocos)"),
        (PT, "Protocolo de atendimento [[~digits16_fail]], ninguém retornou.", "protocolo de 16 dígitos, falha no Luhn"),
        (PT, "O código de barras [[~ean13]] não passa no caixa.", "EAN-13, falha no Luhn"),
        (PT, "Número do Cartão SUS: [[~cns]]", "Cartão Nacional de Saúde, 15 dígitos, falha no Luhn, não é cartão de pagamento"),
        (PT, "Título de eleitor [[~titulo]], zona 001, seção 0123.", "título de eleitor de 12 dígitos, curto demais para cartão"),
        (PT, "Carimbo de tempo [[~unix_ms]] no log do app, isso é em milissegundos?", "epoch em milissegundos, falha no Luhn"),
    ]),
    *templates("cpf", [
        (PT, "Digitei o CPF [[~cpf_bad]] e o sistema diz que é inválido.", "formato de CPF, dígitos verificadores errados"),
        (PT, "O CPF [[~cpf_repeated]] passa no cálculo do dígito, mas a Receita não emite esse número, certo?", "dígitos repetidos: passam na conta mas nunca são emitidos, não é CPF pela regra"),
        (PT, "RG [[~rg]], órgão emissor SSP/SP.", "RG, não é CPF"),
        (PT, "Meu PIS é [[~pis]], onde vejo o saldo do FGTS?", "PIS com dígito do PIS correto, os 11 dígitos falham no CPF"),
        (PT, "Renavam do carro: [[~renavam]]", "Renavam de 11 dígitos que falha no CPF"),
        (PT, "Código do cliente: [[~digits11_bad]]", "11 dígitos, dígitos do CPF errados"),
        (PT, "No comprovante aparece o CPF mascarado [[~cpf_masked]], é seguro?", "CPF mascarado"),
        (PT, "Agência [[~agencia]], conta [[~conta]], banco 341.", "agência e conta, fora dos tipos"),
        (PT, "Número do processo: [[~cnj_process]]", "número de processo (CNJ)"),
        (PT, "CPF: ___.___.___-__ (preencha com seu número)", "campo em branco"),
    ]),
    *templates("cpf", [
        (EN, "Is [[~cpf_bad]] a valid CPF? The Brazilian checkout keeps rejecting it.", "CPF-shaped, wrong check digits"),
        (EN, "customer_ref=[[~digits11_bad]] region=BR status=active", "11 digits, wrong CPF check digits"),
        (EN, "Why do test fixtures use CPF [[~cpf_repeated]]? It passes validation.", "repeated digits: never issued, not a CPF by rule"),
        (EN, "The hotel accepted my Brazilian ID card (RG [[~rg]]) at check-in.", "RG, not a CPF"),
    ]),
    *templates("cnpj", [
        (PT, "O CNPJ [[~cnpj_bad]] não foi encontrado na Receita, digitei errado?", "formato de CNPJ, dígitos errados"),
        (PT, "Nota fiscal nº [[~nf_number]], série 1, emitida hoje.", "número de nota fiscal"),
        (PT, "O sistema antigo usa 00.000.000/0000-00 como CNPJ padrão.", "CNPJ de zeros: passa na conta, nunca emitido"),
        (PT, "Inscrição estadual [[~ie_sp]] ativa desde 2019.", "inscrição estadual de SP"),
        (PT, "Código interno [[~digits14_bad]] no ERP.", "14 dígitos, dígitos do CNPJ errados, falha no Luhn"),
        (PT, "Pedido de compra [[~order_po]] aprovado pelo financeiro.", "número de pedido de compra"),
    ]),
    *templates("cnpj", [
        (EN, "The CNPJ [[~cnpj_bad]] on the invoice fails validation, can you check?", "CNPJ-shaped, wrong check digits"),
        (EN, "ERP reference [[~digits14_bad]] is missing from the export.", "14 digits, wrong CNPJ check digits, fails Luhn"),
    ]),
    *templates("iban", [
        (EN, "The bank says [[~iban_bad]] is wrong, the checksum doesn't match.", "IBAN-shaped, fails mod-97"),
        (EN, "I copied the IBAN as [[~iban_bad]] and the transfer bounced.", "IBAN-shaped, fails mod-97"),
        (EN, "Use SWIFT code [[~bic]] for international transfers.", "BIC, not an IBAN"),
        (EN, "UK payment: sort code [[~sortcode]], account [[~uk_account]].", "UK sort code and account number, not an IBAN"),
        (EN, "The form shows GBkk BBBB SSSS SSCC CCCC CC as the IBAN format.", "IBAN layout notation, no digits"),
    ]),
    *templates("iban", [
        (PT, "O IBAN [[~iban_bad]] foi rejeitado, acho que errei um dígito.", "formato de IBAN, falha no mod-97"),
        (PT, "Dígitos de controle errados em [[~iban_bad:BR]], confere?", "IBAN brasileiro que falha no mod-97"),
        (PT, "Meu NIB antigo era [[~nib]], ainda funciona?", "NIB português (BBAN nacional), não é IBAN"),
        (PT, "Código SWIFT do banco: [[~bic]]", "BIC, não é IBAN"),
        (PT, "Preenchi o campo IBAN com [[~iban_bad]] e deu erro de validação.", "formato de IBAN, falha no mod-97"),
        (PT, "Chave Pix aleatória: [[~uuid]]", "chave Pix aleatória (UUID)"),
    ]),
    *templates("ip", [
        (EN, "After upgrading to v[[~semver]] the build fails with a linker error.", "three-part version"),
        (EN, "Python [[~py_version]] broke our test suite.", "three-part version"),
        (EN, "Chrome [[~chrome_version]] crashes when I open the dashboard.", "four-part version with a part > 255"),
        (EN, "Set the gateway to [[~ip_bad]]? The router says the address is invalid.", "dotted quad with an octet > 255"),
        (EN, "The old docs mention the subnet [[~ip3]] but not the host part.", "three-part dotted number"),
        (EN, "SNMP trap with OID [[~oid]] keeps firing.", "OID with more than four parts"),
        (EN, "Device with MAC [[~mac]] does not get a DHCP lease.", "MAC address, not IPv6"),
        (EN, "Windows [[~win_build]] update failed with 0x80070005.", "Windows build number, parts > 255"),
        (EN, "See section [[~section]] of the contract for the SLA.", "section number"),
        (EN, "npm install @types/node@[[~semver]] fails behind the proxy.", "package@version, not an email"),
        (EN, "std::vector<int> v; v.reserve(10); is that enough for the buffer?", "C++ scope operator, not IPv6"),
        (EN, "Rename report.v2.pdf to report.v3.1.pdf before sending.", "file names with versions"),
    ]),
    *templates("ip", [
        (PT, "Depois de atualizar para a v[[~semver]] o build quebrou.", "versão de três partes"),
        (PT, "O Python [[~py_version]] quebrou nossos testes.", "versão de três partes"),
        (PT, "O Chrome [[~chrome_version]] trava ao abrir o painel.", "versão com parte > 255"),
        (PT, "Configurei o gateway como [[~ip_bad]] e o roteador recusou.", "quatro partes com octeto > 255"),
        (PT, "A rede [[~ip3]] aparece incompleta na documentação.", "número de três partes"),
        (PT, "OID [[~oid]] no alerta SNMP, o que significa?", "OID com mais de quatro partes"),
        (PT, "O MAC [[~mac]] não recebe IP do DHCP.", "endereço MAC, não é IPv6"),
        (PT, "Veja a cláusula [[~section]] do contrato.", "número de cláusula"),
        (PT, "O horário do backup é [[~time_hms]], todo dia.", "hora hh:mm:ss, não é IPv6"),
        (PT, "Versão do app: [[~app_version]] (build [[~build]])", "versão e build"),
        (PT, "pip install requests==[[~semver]] deu erro de SSL", "versão de pacote"),
    ]),
    *templates("ssn", [
        (EN, "Is [[~ssn_bad]] a real SSN? The form keeps rejecting it.", "SSN-shaped but area 000/666/9xx, group 00 or serial 0000"),
        (EN, "My ITIN is [[~itin]], I don't have a social security number yet.", "ITIN (area 9xx), not an SSN"),
        (EN, "The form shows the SSN as XXX-XX-[[~four]], only the last four digits.", "masked SSN"),
        (EN, "Our EIN is [[~ein]], do I put it on the W-9?", "EIN (NN-NNNNNNN), not an SSN"),
        (EN, "Sample record from the vendor: SSN [[~ssn_bad]] (test data).", "invalid SSN"),
    ]),
    *templates("ssn", [
        (PT, "O SSN [[~ssn_bad]] foi recusado no formulário, é inválido?", "SSN inválido (área 000/666/9xx, grupo 00 ou série 0000)"),
        (PT, "Meu ITIN é [[~itin]], ainda não tenho SSN.", "ITIN, não é SSN"),
        (PT, "No documento aparece só XXX-XX-[[~four]] no campo do SSN.", "SSN mascarado"),
        (PT, "O EIN da empresa americana é [[~ein]].", "EIN, não é SSN"),
    ]),
    *templates("email", [
        (EN, "Tag @[[~handle]] in the Slack thread so they see it.", "@handle"),
        (EN, "Replace <EMAIL_1> with the customer's address before sending.", "redaction placeholder"),
        (EN, "The username field only takes the part before the domain, like [[~user_at]]", "local part and @, no domain"),
        (EN, "@app.route('/users/<int:user_id>') returns 404, why?", "Python decorator"),
        (EN, "Cron mails go to [[~user_host]] and nobody reads them.", "user@host without a dotted domain"),
        (EN, "Emails are exported as [REDACTED] in the CSV, is that expected?", "redaction marker"),
        (EN, "Follow us at @[[~handle]] for product updates.", "@handle"),
    ]),
    *templates("email", [
        (PT, "Me marca no Instagram: @[[~handle]]", "@perfil"),
        (PT, "Substitua [EMAIL_1] pelo e-mail do cliente antes de enviar.", "marcador de anonimização"),
        (PT, "O login é só [[~user_at]] e o domínio você escolhe na lista.", "parte local e @, sem domínio"),
        (PT, "Os e-mails do cron vão para [[~user_host]] e ninguém lê.", "usuário@host sem domínio com ponto"),
        (PT, "Onde fica o @ no teclado ABNT2? É Shift+2?", "arroba sozinha"),
        (PT, "Use a variável {{email_cliente}} no modelo de mensagem.", "variável de modelo"),
    ]),
    *templates("secret", [
        (EN, "Our sk-ills matrix for the desk-top support team is in the wiki.", "words containing sk-"),
        (EN, "Put OPENAI_API_KEY=sk-... in your .env and never commit the real key.", "elided key"),
        (EN, 'curl -H "Authorization: Bearer $TOKEN" https://api.example.com/v1/me', "shell variable, not a token"),
        (EN, "The header must look like Authorization: Bearer <your-token-here>.", "placeholder token"),
        (EN, "Classic GitHub tokens start with ghp_ and fine-grained ones with github_pat_.", "prefixes alone"),
        (EN, "git bisect says commit [[~sha40]] introduced the regression.", "git commit hash"),
        (EN, "request_id=[[~uuid]] status=500 path=/v1/chat/completions", "UUID"),
        (EN, "The SHA-256 of the installer is [[~sha256]], does it match yours?", "SHA-256 digest"),
        (EN, "AKIA marks long-term AWS access keys and ASIA temporary ones, right?", "prefixes alone"),
        (EN, "Is eyJhbGciOiJIUzI1NiJ9 alone a valid JWT?", "JWT header only, no payload or signature"),
        (EN, "Slack bot tokens look like xoxb-..., never paste a real one here.", "elided token"),
        (EN, "Run git checkout [[~sha7]] and rebuild.", "short commit hash"),
        (EN, "Use the flag --disk-size=20G, the task-force asked for it.", "words containing sk-"),
        (EN, 'Set api_key: "YOUR_API_KEY" in config.yaml and restart.', "placeholder key"),
        (EN, "Base64 of 'hello world' is aGVsbG8gd29ybGQ=, right?", "short base64"),
    ]),
    *templates("secret", [
        (PT, "A planilha de sk-ills do time de desk-top está no drive.", "palavras com sk-"),
        (PT, "Coloque OPENAI_API_KEY=sk-... no .env e nunca suba a chave real.", "chave elidida"),
        (PT, 'curl -H "Authorization: Bearer ${API_TOKEN}" https://api.exemplo.com.br/v1', "variável de shell, não é token"),
        (PT, "O commit [[~sha40]] quebrou o build da main.", "hash de commit"),
        (PT, "ID da requisição: [[~uuid]], erro 502.", "UUID"),
        (PT, "Hash SHA-256 do arquivo: [[~sha256]]", "SHA-256"),
        (PT, "O token vai no cabeçalho como 'Bearer <token>', certo?", "token de exemplo"),
        (PT, "Chaves da AWS começam com AKIA e as temporárias com ASIA?", "prefixos sozinhos"),
        (PT, "Tokens do GitHub começam com ghp_, nunca compartilhe o resto.", "prefixo sozinho"),
        (PT, "Faz checkout do [[~sha7]] e roda os testes de novo.", "hash curto"),
        (PT, 'Configure api_key: "SUA_CHAVE_AQUI" no config.yaml', "chave de exemplo"),
    ]),
    *templates("phone", [
        (EN, "Call extension [[~ext]] for the front desk.", "internal extension, too short"),
        (EN, "Our office ZIP code is [[~zip4]].", "US ZIP+4, not a phone"),
        (EN, "The country code for Brazil is +55 and for Portugal +351.", "country codes alone"),
        (EN, "Dial 911 in an emergency, or 311 for city services.", "short service numbers"),
        (EN, "Final scores were 3-1 and 2-2 this weekend.", "scores"),
        (EN, "Sales rose +15% year over year.", "signed percentage"),
        (EN, "Office hours are [[~time_open]]-[[~time_close]], Monday to Friday.", "time range"),
        (EN, "Pages [[~page_range]] cover the appendix.", "page range"),
        (EN, "Your verification code is [[~otp]].", "one-time code"),
    ]),
    *templates("phone", [
        (PT, "Ramal [[~ext]] da recepção, das 8h às 18h.", "ramal, curto demais"),
        (PT, "CEP [[~cep]], número 120, apto 34.", "CEP, não é telefone"),
        (PT, "Ligue 190 em emergência ou 192 para o SAMU.", "números de serviço curtos"),
        (PT, "O DDD de São Paulo é 11 e o do Rio é 21.", "DDD sozinho"),
        (PT, "O DDI do Brasil é +55 e o de Portugal é +351.", "DDI sozinho"),
        (PT, "Placar final: 2 x 1 para o Flamengo.", "placar"),
        (PT, "Seu código de verificação é [[~otp]].", "código de uso único"),
        (PT, "Meu endereço: Rua das Flores, 250, CEP [[~cep]], São Paulo.", "CEP em endereço"),
        (PT, "Horário de atendimento: [[~time_open]] às [[~time_close]].", "horário"),
    ]),
    *templates("other", [
        (EN, "The meeting is on [[~date_iso]] at [[~time_hm]], can you add it to my calendar?", "date and time"),
        (EN, "Total: [[~usd]] including tax, charged in 3 installments.", "price"),
        (EN, "Order #[[~order_short]] shipped on [[~date_us]] via UPS [[~ups]].", "order number, date, UPS tracking"),
        (EN, "Download report.v2.pdf and final_v3.1.docx from the shared drive.", "file names with versions"),
        (EN, "Deploy at [[~iso_ts]] finished in 42s.", "ISO timestamp"),
        (EN, "The job started at epoch [[~unix_s]].", "10-digit epoch seconds"),
        (EN, "Batch [[~date_iso]]_001 processed 12,345 rows in 3.2 s.", "batch id and counts"),
        (EN, "The price went from [[~eur]] to [[~eur]] overnight.", "prices"),
        (EN, "My flight LA [[~flight]] departs at [[~time_hm]] from gate 12.", "flight number"),
    ]),
    *templates("other", [
        (PT, "A reunião é dia [[~date_br]] às [[~time_hm]], pode marcar na agenda?", "data e hora"),
        (PT, "Total: [[~brl]] em 3x sem juros.", "preço"),
        (PT, "Pedido nº [[~order_short]] enviado em [[~date_br]], rastreio [[~tracking_br]].", "pedido, data, rastreio dos Correios"),
        (PT, "Baixe o relatorio.v2.pdf e o contrato_final_v3.1.docx na pasta.", "nomes de arquivo com versão"),
        (PT, "A fatura de março veio [[~brl]] e a de abril [[~brl]], por quê?", "preços"),
        (PT, "Nota de corte do vestibular: [[~decimal_br]] pontos.", "número decimal"),
        (PT, "O voo G3 [[~flight]] sai às [[~time_hm]] do portão 5.", "número de voo"),
        (PT, "Lote [[~date_iso]]_002 processou 12.345 linhas.", "lote e contagem"),
        (PT, "A versão 2024.05.17 do sistema foi publicada.", "versão em forma de data"),
    ]),
]  # fmt: skip


# Rendering.

PLACEHOLDER = re.compile(r"\[\[(~?[a-z0-9_]+)(?::([A-Za-z0-9_]+))?\]\]")
LABEL_KINDS = {**{kind: kind for kind in KINDS}, "bearer": "secret"}


@dataclass(frozen=True)
class Span:
    kind: str
    start: int
    end: int


def render(template: Template, values: Values) -> tuple[str, list[Span], list[str]]:
    parts: list[str] = []
    spans: list[Span] = []
    described: list[str] = []
    cursor = length = 0
    for match in PLACEHOLDER.finditer(template.text):
        parts.append(template.text[cursor : match.start()])
        length += match.start() - cursor
        name, variant = match[1], match[2] or ""
        if name.startswith("~"):
            value = values.fillers[name[1:]](variant)
        else:
            value, description = values.makers[name](variant)
            spans.append(Span(LABEL_KINDS[name], length, length + len(value)))
            described.append(description)
        parts.append(value)
        length += len(value)
        cursor = match.end()
    parts.append(template.text[cursor:])
    return "".join(parts), spans, described


def masked(text: str, spans: Sequence[Span]) -> str:
    """The text with each label blanked, so the leak scan sees only what is left unlabelled."""
    for span in spans:
        text = text[: span.start] + "\x00" * (span.end - span.start) + text[span.end :]
    return text


def build_snippets(seed: int = SEED) -> list[dict[str, object]]:
    values = Values(random.Random(seed))
    seen: set[str] = set()
    counters: Counter[str] = Counter()
    snippets: list[dict[str, object]] = []
    for positive, pool in ((True, POSITIVES), (False, NEGATIVES)):
        for template in pool:
            has_fillers = "[[~" in template.text
            copies = POSITIVE_COPIES if positive else NEGATIVE_COPIES if has_fillers else 1
            for _ in range(copies):
                text, spans, described = draw(template, values, seen)
                seen.add(text)
                prefix = f"{'pos' if positive else 'neg'}-{template.group}-{template.lang}"
                counters[prefix] += 1
                note = "; ".join([template.note, *described])
                snippets.append(
                    {
                        "id": f"{prefix}-{counters[prefix]:03d}",
                        "lang": template.lang,
                        "text": text,
                        "pii": [{"kind": s.kind, "start": s.start, "end": s.end} for s in spans],
                        "note": note,
                    }
                )
    return snippets


def draw(template: Template, values: Values, seen: set[str]) -> tuple[str, list[Span], list[str]]:
    for _ in range(MAX_DRAWS):
        text, spans, described = render(template, values)
        if text not in seen and not find_leaks(masked(text, spans)):
            return text, spans, described
    raise RuntimeError(f"no clean, unseen draw of {template.text!r} in {MAX_DRAWS} tries")


def stats_table(snippets: Sequence[dict[str, object]]) -> str:
    """The counts README.md shows; the tests check the README still matches the file."""
    positives: Counter[tuple[str, str]] = Counter()
    values: Counter[str] = Counter()
    negatives: Counter[tuple[str, str]] = Counter()
    for snippet in snippets:
        lang, pii = str(snippet["lang"]), snippet["pii"]
        assert isinstance(pii, list)
        if pii:
            for kind in {label["kind"] for label in pii}:
                positives[kind, lang] += 1
            values.update(label["kind"] for label in pii)
        else:
            negatives[str(snippet["id"]).split("-")[1], lang] += 1
    lines = [
        "| kind | positive snippets en | positive snippets pt | labelled values |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {k} | {positives[k, EN]} | {positives[k, PT]} | {values[k]} |" for k in KINDS]
    lines += ["", "| negatives imitating | en | pt |", "| --- | ---: | ---: |"]
    for group in (*KINDS, "other"):
        lines.append(f"| {group} | {negatives[group, EN]} | {negatives[group, PT]} |")
    total = Counter((bool(s["pii"]), s["lang"]) for s in snippets)
    lines += [
        "",
        "| snippets | en | pt | total |",
        "| --- | ---: | ---: | ---: |",
        f"| positive | {total[True, EN]} | {total[True, PT]} | {total[True, EN] + total[True, PT]} |",
        f"| negative | {total[False, EN]} | {total[False, PT]} | {total[False, EN] + total[False, PT]} |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_PATH, help="where to write the JSONL")
    parser.add_argument("--stats", action="store_true", help="print the README count tables")
    args = parser.parse_args(argv)
    snippets = build_snippets()
    lines = [json.dumps(snippet, ensure_ascii=False) + "\n" for snippet in snippets]
    args.out.write_text("".join(lines), encoding="utf-8", newline="\n")
    if args.stats:
        print(stats_table(snippets), end="")


if __name__ == "__main__":
    main()
