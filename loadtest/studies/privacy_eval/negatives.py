"""Hard negatives: numbers and identifiers that look like a labelled kind and are none.

A negative is never a valid value of a labelled kind by that kind's own check (a long id is not
Luhn-valid at a card's length, nor a valid CPF or CNPJ at theirs), so a detector that flags one is
wrong, not unlucky.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

from faker import Faker

NEGATIVE_FRAMINGS = {
    "order_number": (
        ("order ", "order number ", "your order #"),
        ("pedido ", "número do pedido ", "pedido nº "),
    ),
    "version": (
        ("version ", "upgraded to ", "requires >= "),
        ("versão ", "atualizado para ", "requer versão "),
    ),
    "version4": (
        ("Windows build ", "version ", "file version "),
        ("compilação ", "versão ", "versão do arquivo "),
    ),
    "uuid": (("request id ", "trace ", "session "), ("id da requisição ", "rastreio ", "sessão ")),
    "timestamp": (("at ", "since ", "created "), ("em ", "desde ", "criado em ")),
    "isbn": (("ISBN ", "the book (ISBN ", "isbn: "), ("ISBN ", "o livro (ISBN ", "isbn: ")),
    "git_sha": (("commit ", "fixed in ", "revert "), ("commit ", "corrigido em ", "reverter ")),
    "price": (("it costs ", "total ", "price: "), ("custa ", "total ", "preço: ")),
    "coordinates": (
        ("located at ", "coordinates ", "GPS "),
        ("localizado em ", "coordenadas ", "GPS "),
    ),
    "case_number_00": (
        ("case ", "ticket ", "process no. "),
        ("processo ", "chamado ", "processo nº "),
    ),
    "nine_digits": (
        ("reference ", "tracking ", "invoice "),
        ("referência ", "rastreamento ", "nota fiscal "),
    ),
    "long_id": (
        ("user id ", "message id ", "account "),
        ("id do usuário ", "id da mensagem ", "conta "),
    ),
}


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = int(char) * (2 if index % 2 else 1)
        total += number - 9 if number > 9 else number
    return total % 10 == 0


def _br_check_digits_valid(digits: str) -> bool:
    """Whether digits are a valid CPF (11) or CNPJ (14) by their check digits."""

    def check(body: str, weights: list[int]) -> int:
        rest = sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11
        return 0 if rest < 2 else 11 - rest

    if len(digits) == 11:
        first = check(digits[:9], list(range(10, 1, -1)))
        return first == int(digits[9]) and check(digits[:10], list(range(11, 1, -1))) == int(
            digits[10]
        )
    if len(digits) == 14:
        weights = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
        first = check(digits[:12], weights)
        return first == int(digits[12]) and check(digits[:13], [6, *weights]) == int(digits[13])
    return False


def _looks_valid(digits: str) -> bool:
    return (13 <= len(digits) <= 19 and _luhn_valid(digits)) or _br_check_digits_valid(digits)


class NegativeValues:
    """Makes hard negative values from a seeded Faker and generator."""

    def __init__(self, fake: Faker, rng: random.Random) -> None:
        self.fake, self.rng = fake, rng
        self.makers: dict[str, Callable[[], str]] = {
            "order_number": self.order_number,
            "version": self.version,
            "version4": self.version4,
            "uuid": lambda: str(self.fake.uuid4()),
            "timestamp": self.timestamp,
            "isbn": lambda: self.rng.choice((self.fake.isbn13, self.fake.isbn10))(),
            "git_sha": lambda: self.fake.sha1()[: self.rng.choice((7, 12, 40))],
            "price": self.price,
            "coordinates": self.coordinates,
            "case_number_00": self.case_number,
            "nine_digits": lambda: self._digits(9, leading="123456789"),
            "long_id": lambda: self._digits(self.rng.randint(10, 20), leading="123456789"),
        }

    def make(self, negative_kind: str) -> str:
        return self.makers[negative_kind]()

    def _digits(self, n: int, leading: str = "0123456789") -> str:
        while True:
            digits = self.rng.choice(leading) + "".join(
                self.rng.choice("0123456789") for _ in range(n - 1)
            )
            if not _looks_valid(digits):
                return digits

    def order_number(self) -> str:
        layout = self.rng.randrange(4)
        if layout == 0:
            return self._digits(self.rng.randint(6, 12))
        if layout == 1:
            return f"{self.fake.bothify('??').upper()}-{self._digits(8)}"
        if layout == 2:
            return f"#{self._digits(7)}"
        return (
            f"{self.rng.randint(100, 999)}-{self._digits(7)}-{self._digits(7)}"  # Amazon's layout
        )

    def version(self) -> str:
        parts = [str(self.rng.randint(0, 30)) for _ in range(self.rng.choice((2, 3)))]
        return (
            self.rng.choice(("", "v"))
            + ".".join(parts)
            + self.rng.choice(("", "", "-rc1", "+deb12u1"))
        )

    def version4(self) -> str:
        layout = self.rng.randrange(3)
        if layout == 0:  # Windows builds: 10.0.19041.1
            build = self.rng.choice((17763, 19041, 19045, 22000, 22621, 26100))
            return f"10.0.{build}.{self.rng.randint(1, 4500)}"
        if layout == 1:
            return ".".join(str(self.rng.randint(0, 255)) for _ in range(4))
        major, build = self.rng.randint(1, 120), self.rng.randint(1000, 6999)
        return f"{major}.0.{build}.{self.rng.randint(0, 250)}"

    def timestamp(self) -> str:
        # Fixed bounds: Faker's relative ones ("-5y") move with today's date.
        moment = self.fake.date_time_between_dates(
            datetime(2020, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), tzinfo=UTC
        )
        layout = self.rng.randrange(5)
        if layout == 0:
            return moment.isoformat()
        if layout == 1:
            return str(int(moment.timestamp()))
        if layout == 2:
            return str(int(moment.timestamp() * 1000))
        if layout == 3:
            return moment.strftime("%Y%m%d%H%M%S")
        return moment.strftime("%d/%m/%Y %H:%M:%S")

    def price(self) -> str:
        amount = self.rng.randint(100, 99_999_999) / 100
        layout = self.rng.randrange(4)
        if layout == 0:
            return f"${amount:,.2f}"
        if layout == 1:
            return f"R$ {amount:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
        if layout == 2:
            return f"{amount:.2f} EUR"
        return self.fake.pricetag()

    def coordinates(self) -> str:
        lat, lng = self.fake.latlng()
        if self.rng.random() < 0.5:
            return f"{lat}, {lng}"
        return f"{float(lat):.6f},{float(lng):.6f}"

    def case_number(self) -> str:
        layout = self.rng.randrange(3)
        if layout == 0:  # Brazil's CNJ numbering: NNNNNNN-DD.AAAA.J.TR.OOOO
            sequence, check = self._digits(5), self._digits(2)
            return f"00{sequence}-{check}.{self.rng.randint(2000, 2026)}.8.26.{self._digits(4)}"
        if layout == 1:  # Salesforce-style case numbers
            return "00" + self._digits(self.rng.randint(6, 8))
        return "00" + self._digits(self.rng.randint(9, 13))
