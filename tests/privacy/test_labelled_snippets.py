"""The labelled PII set itself: well formed, ground truth by the algorithms, and reproducible.

These tests check the data only, never a detector. The check digits are implemented again here
rather than imported from the generator, so a slip in the generator cannot vouch for itself.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

DATA_DIR = Path(__file__).with_name("data")
SNIPPETS_PATH = DATA_DIR / "labelled_snippets.jsonl"
GENERATOR_PATH = DATA_DIR / "make_labelled_snippets.py"
README_PATH = DATA_DIR / "README.md"
KINDS = {"email", "phone", "card", "iban", "ip", "ssn", "cpf", "cnpj", "secret"}
IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "BR": 29, "CH": 21, "DE": 22, "ES": 24,
    "FR": 27, "GB": 22, "IE": 22, "NL": 18, "PL": 28, "PT": 25,
}  # fmt: skip


def load_snippets() -> list[dict[str, Any]]:
    with SNIPPETS_PATH.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


SNIPPETS = load_snippets()
POSITIVES = [s for s in SNIPPETS if s["pii"]]
NEGATIVES = [s for s in SNIPPETS if not s["pii"]]


def labelled_values(kind: str) -> list[str]:
    return [
        s["text"][p["start"] : p["end"]] for s in POSITIVES for p in s["pii"] if p["kind"] == kind
    ]


def digits_of(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def passes_luhn(digits: str) -> bool:
    doubled = [int(d) * 2 for d in digits[-2::-2]]
    total = sum(int(d) for d in digits[::-2]) + sum(d // 10 + d % 10 for d in doubled)
    return total % 10 == 0


def passes_mod97(iban: str) -> bool:
    compact = iban.replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    as_number = "".join(str(ord(ch) - 55) if ch.isalpha() else ch for ch in rearranged)
    return int(as_number) % 97 == 1


CPF_WEIGHTS = (11, 10, 9, 8, 7, 6, 5, 4, 3, 2)
CNPJ_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def mod11_check(digits: str, weights: tuple[int, ...]) -> str:
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return str(0 if remainder < 2 else 11 - remainder)


def valid_cpf(digits: str) -> bool:
    """Repeated digits pass the arithmetic but are never issued: the set counts them invalid."""
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    first = mod11_check(digits[:9], CPF_WEIGHTS[1:])
    return digits[9:] == first + mod11_check(digits[:9] + first, CPF_WEIGHTS)


def valid_cnpj(digits: str) -> bool:
    if len(digits) != 14 or len(set(digits)) == 1:
        return False
    first = mod11_check(digits[:12], CNPJ_WEIGHTS[1:])
    return digits[12:] == first + mod11_check(digits[:12] + first, CNPJ_WEIGHTS)


def valid_ssn(ssn: str) -> bool:
    match = re.fullmatch(r"(\d{3})-(\d{2})-(\d{4})", ssn)
    if match is None:
        return False
    area, group, serial = match.groups()
    return (
        area not in ("000", "666")
        and not area.startswith("9")
        and group != "00"
        and serial != "0000"
    )


def valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def unlabelled_text(snippet: dict[str, Any]) -> str:
    """The text with labelled values replaced by a separator that no pattern below matches."""
    chars = list(snippet["text"])
    for label in snippet["pii"]:
        chars[label["start"] : label["end"]] = "|" * (label["end"] - label["start"])
    return "".join(chars)


def unlabelled_pii(text: str) -> list[str]:
    """Values the README's rules would label, found by the checksums and address parsers."""
    found: list[str] = []
    for run in re.findall(r"(?<!\d)\d+(?:[ -]\d+)*(?!\d)", text):
        if 13 <= len(digits_of(run)) <= 19 and passes_luhn(digits_of(run)):
            found.append(f"card {run}")
    for value in re.findall(r"(?<![\d.])\d{3}\.\d{3}\.\d{3}-\d{2}(?!\d)|(?<!\d)\d{11}(?!\d)", text):
        if valid_cpf(digits_of(value)):
            found.append(f"cpf {value}")
    for value in re.findall(
        r"(?<![\d.])\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}(?!\d)|(?<!\d)\d{14}(?!\d)", text
    ):
        if valid_cnpj(digits_of(value)):
            found.append(f"cnpj {value}")
    for value in re.findall(
        r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?", text
    ):
        if passes_mod97(value):
            found.append(f"iban {value}")
    for value in re.findall(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\d)", text):
        if valid_ip(value):
            found.append(f"ipv4 {value}")
    for value in re.findall(r"(?<![\w:.])[0-9A-Fa-f]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?![\w:])", text):
        if valid_ip(value):
            found.append(f"ipv6 {value}")
    for value in re.findall(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])", text):
        if valid_ssn(value):
            found.append(f"ssn {value}")
    emails = re.findall(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}", text, flags=re.ASCII)
    return found + [f"email {value}" for value in emails]


# The shape each labelled value must have, beyond its checksum.
VALUE_SHAPES = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "phone": r"(?:\+|00|\()?\d[\d ().-]*\d",
    "card": r"\d{13,19}|\d{4}(?:[ -]\d{3,6}){2,4}",
    "iban": r"[A-Z]{2}\d{2}(?:[A-Z0-9]{10,30}|(?: [A-Z0-9]{4})+(?: [A-Z0-9]{1,3})?)",
    "cpf": r"\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11}",
    "cnpj": r"\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}|\d{14}",
    "ip": r"[0-9A-Fa-f.:]+",
    "ssn": r"\d{3}-\d{2}-\d{4}",
}
# A secret either starts with a vendor prefix and has that vendor's shape, or follows "Bearer ".
SECRET_SHAPES = {
    "sk-": r"sk-(?:proj-)?[A-Za-z0-9_-]{40,}",
    "AKIA": r"AKIA[A-Z0-9]{16}",
    "gh": r"gh[op]_[A-Za-z0-9]{36}",
    "github_pat_": r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
    "xox": r"xox[bp]-\d+-\d+(?:-\d+)?-[A-Za-z0-9]+",
    "AIza": r"AIza[A-Za-z0-9_-]{35}",
    "eyJ": r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
}
BEARER_TOKEN = r"[A-Za-z0-9._~+/-]{20,}"


def test_every_line_is_a_snippet_with_the_documented_fields() -> None:
    for snippet in SNIPPETS:
        assert set(snippet) == {"id", "lang", "text", "pii", "note"}, snippet["id"]
        assert snippet["lang"] in ("en", "pt")
        assert isinstance(snippet["text"], str) and snippet["text"].strip()
        assert isinstance(snippet["note"], str) and snippet["note"].strip()
        for label in snippet["pii"]:
            assert set(label) == {"kind", "start", "end"}
            assert label["kind"] in KINDS


def test_ids_and_texts_are_unique() -> None:
    assert len({s["id"] for s in SNIPPETS}) == len(SNIPPETS)
    assert len({s["text"] for s in SNIPPETS}) == len(SNIPPETS)


def test_offsets_are_in_range_sorted_and_never_overlap() -> None:
    for snippet in POSITIVES:
        previous_end = 0
        for label in snippet["pii"]:
            assert previous_end <= label["start"] < label["end"] <= len(snippet["text"]), snippet[
                "id"
            ]
            previous_end = label["end"]


def test_labelled_values_stand_alone_without_surrounding_space() -> None:
    for snippet in POSITIVES:
        text = snippet["text"]
        for label in snippet["pii"]:
            value = text[label["start"] : label["end"]]
            assert value == value.strip(), snippet["id"]
            before = text[label["start"] - 1] if label["start"] else " "
            after = text[label["end"]] if label["end"] < len(text) else " "
            assert not before.isalnum() and not after.isalnum(), (snippet["id"], value)


@pytest.mark.parametrize("kind", sorted(VALUE_SHAPES))
def test_every_labelled_value_has_the_shape_of_its_kind(kind: str) -> None:
    for value in labelled_values(kind):
        assert re.fullmatch(VALUE_SHAPES[kind], value), (kind, value)


def test_every_secret_has_its_vendor_shape_or_follows_bearer() -> None:
    for snippet in POSITIVES:
        for label in snippet["pii"]:
            value = snippet["text"][label["start"] : label["end"]]
            if label["kind"] != "secret":
                continue
            prefix = next((p for p in SECRET_SHAPES if value.startswith(p)), None)
            if snippet["text"][: label["start"]].endswith("Bearer "):
                assert re.fullmatch(SECRET_SHAPES.get(prefix or "", BEARER_TOKEN), value), value
            else:
                assert prefix is not None and re.fullmatch(SECRET_SHAPES[prefix], value), value


def test_every_labelled_card_passes_luhn_and_has_13_to_19_digits() -> None:
    for value in labelled_values("card"):
        assert 13 <= len(digits_of(value)) <= 19 and passes_luhn(digits_of(value)), value


def test_every_labelled_iban_passes_mod97_at_its_country_length() -> None:
    for value in labelled_values("iban"):
        compact = value.replace(" ", "")
        assert IBAN_LENGTHS[compact[:2]] == len(compact) and passes_mod97(value), value


def test_every_labelled_cpf_and_cnpj_has_valid_check_digits() -> None:
    for value in labelled_values("cpf"):
        assert valid_cpf(digits_of(value)), value
    for value in labelled_values("cnpj"):
        assert valid_cnpj(digits_of(value)), value


def test_every_labelled_ssn_follows_the_ssa_rules() -> None:
    for value in labelled_values("ssn"):
        assert valid_ssn(value), value


def test_every_labelled_ip_parses_as_an_address() -> None:
    for value in labelled_values("ip"):
        assert valid_ip(value), value


def test_every_labelled_phone_has_between_9_and_15_digits() -> None:
    for value in labelled_values("phone"):
        assert 9 <= len(digits_of(value)) <= 15, value


def test_the_check_digit_helpers_agree_with_published_examples() -> None:
    assert passes_luhn("4111111111111111") and not passes_luhn("4111111111111112")
    assert passes_mod97("GB82 WEST 1234 5698 7654 32") and not passes_mod97(
        "GB82WEST12345698765433"
    )
    assert (
        valid_cpf("12345678909") and not valid_cpf("12345678900") and not valid_cpf("11111111111")
    )
    assert valid_cnpj("11222333000181") and not valid_cnpj("11222333000180")
    assert not valid_cnpj("00000000000000")
    assert (
        valid_ssn("123-45-6789") and not valid_ssn("666-45-6789") and not valid_ssn("912-45-6789")
    )


def test_no_negative_hides_a_value_the_rules_would_label() -> None:
    leaks = {s["id"]: unlabelled_pii(s["text"]) for s in NEGATIVES}
    assert {k: v for k, v in leaks.items() if v} == {}


def test_no_positive_hides_an_unlabelled_value_beside_its_labels() -> None:
    leaks = {s["id"]: unlabelled_pii(unlabelled_text(s)) for s in POSITIVES}
    assert {k: v for k, v in leaks.items() if v} == {}


def test_the_set_meets_its_minimum_counts() -> None:
    assert len(POSITIVES) >= 300 and len(NEGATIVES) >= 300
    for polarity in (POSITIVES, NEGATIVES):
        languages = Counter(s["lang"] for s in polarity)
        assert languages["pt"] >= 0.4 * len(polarity) and languages["en"] > 0
    snippets_per_kind = Counter(kind for s in POSITIVES for kind in {p["kind"] for p in s["pii"]})
    assert all(snippets_per_kind[kind] >= 30 for kind in KINDS), snippets_per_kind
    assert sum(len({p["kind"] for p in s["pii"]}) >= 2 for s in POSITIVES) >= 20


def test_the_generator_reproduces_the_file_byte_for_byte_and_the_readme_counts(
    tmp_path: Path,
) -> None:
    out = tmp_path / "snippets.jsonl"
    run = subprocess.run(
        [sys.executable, str(GENERATOR_PATH), "--out", str(out), "--stats"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.read_bytes() == SNIPPETS_PATH.read_bytes()
    assert run.stdout in README_PATH.read_text(encoding="utf-8")


def test_the_readme_example_line_and_the_ids_it_names_are_in_the_file() -> None:
    readme = README_PATH.read_text(encoding="utf-8")
    lines = SNIPPETS_PATH.read_text(encoding="utf-8").splitlines()
    example = next(line for line in readme.splitlines() if line.startswith('{"id": '))
    assert example in lines
    ids = {s["id"] for s in SNIPPETS}
    assert set(re.findall(r"`((?:pos|neg)-[a-z]+-(?:en|pt)-\d{3})`", readme)) <= ids
