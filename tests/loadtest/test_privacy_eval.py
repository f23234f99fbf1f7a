"""The privacy evaluation's scorer, split rule and committed data (loadtest/studies/privacy_eval).

These run in the main environment, which has neither Faker nor Presidio: the scorer is checked on
hand-made snippets and a scripted detector, the data files as they are committed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from loadtest.studies.privacy_eval.score import PII_KINDS, Finding, covered, maps_to, report, score
from loadtest.studies.privacy_eval.split import part_of

DATA_DIR = Path(__file__).resolve().parents[2] / "loadtest" / "studies" / "privacy_eval" / "data"


def snippet(
    snippet_id: str, text: str, spans: list[tuple[str, str]], lang: str = "en", **extra: Any
) -> dict[str, Any]:
    """A snippet whose spans are given as (kind, value), located in text."""
    labelled = []
    for kind, value in spans:
        start = text.index(value)
        labelled.append({"start": start, "end": start + len(value), "kind": kind, "value": value})
    return {
        "id": snippet_id,
        "lang": lang,
        "source": "test",
        "text": text,
        "spans": labelled,
        **extra,
    }


def scripted(findings: dict[str, list[Finding]]) -> Any:
    """A detector that answers each text with the findings scripted for it."""
    return lambda text: findings.get(text, [])


def test_covered_needs_the_whole_value_inside_the_union_of_findings() -> None:
    assert covered(5, 10, [(0, 7), (7, 12)])
    assert covered(5, 10, [(5, 10)])
    assert not covered(5, 10, [(0, 7), (8, 12)])
    assert not covered(5, 10, [(6, 10)])
    assert not covered(5, 10, [])


def test_a_value_found_under_another_kind_is_caught_but_not_kind_correct() -> None:
    text = "card 4111 1111 1111 1111 and mail ana@example.com"
    data = [snippet("a", text, [("card", "4111 1111 1111 1111"), ("email", "ana@example.com")])]
    card_at, mail_at = text.index("4111"), text.index("ana@")
    detector = scripted(
        {text: [("phone", card_at, card_at + 19), ("email", mail_at, mail_at + 15)]}
    )
    tally = score(data, "router", detector)
    assert tally.caught[("card", "en")] == 1 and tally.kind_correct[("card", "en")] == 0
    assert tally.caught[("email", "en")] == 1 and tally.kind_correct[("email", "en")] == 1
    assert (
        tally.findings_right[("phone", "en")] == 1
    )  # overlapping a gold span is right for precision


def test_a_value_cut_short_is_not_caught() -> None:
    text = "postgres://u:S3cr3t!Pass_2024@db.internal/app"
    data = [snippet("a", text, [("password", "S3cr3t!Pass_2024")])]
    start = text.index("Pass_2024")
    tally = score(data, "router", scripted({text: [("email", start, len(text) - 4)]}))
    assert tally.caught[("password", "en")] == 0
    assert tally.findings_right[("email", "en")] == 1
    assert tally.missed_examples["password"] == ["a"]


def test_findings_on_negatives_and_away_from_gold_spans_are_false_positives() -> None:
    negative = snippet("n", "case 00123456789 opened", [], negative_kind="case_number_00")
    positive = snippet(
        "p", "ip 10.0.19041.1 and ana@example.com", [("email", "ana@example.com")], lang="pt"
    )
    mail_at = positive["text"].index("ana@")
    detector = scripted(
        {
            negative["text"]: [("phone", 5, 16)],
            positive["text"]: [("ip", 3, 13), ("email", mail_at, mail_at + 15)],
        }
    )
    tally = score([negative, positive], "router", detector)
    assert tally.findings == Counter({("phone", "en"): 1, ("ip", "pt"): 1, ("email", "pt"): 1})
    assert tally.findings_right == Counter({("email", "pt"): 1})
    assert tally.negatives_flagged == Counter({"case_number_00": 1})
    assert tally.negative_findings["case_number_00"] == Counter({"phone": 1})


def test_the_routers_secret_kind_matches_every_secret_gold_kind_and_no_pii_kind() -> None:
    for gold in ("private_key", "password", "stripe_key", "aws_access_key_id"):
        assert maps_to("router", "secret", gold)
        assert maps_to("detect-secrets", "Private Key", gold)
    for gold in PII_KINDS:
        assert not maps_to("router", "secret", gold)
        assert maps_to("router", gold, gold)
    assert maps_to("presidio", "US_SSN", "ssn") and not maps_to("presidio", "US_SSN", "cpf")
    assert not maps_to("presidio", "URL", "password")


def test_report_has_a_row_per_gold_kind_and_per_negative_kind() -> None:
    text = "my SSN is 123-45-6789"
    data = [
        snippet("a", text, [("ssn", "123-45-6789")]),
        snippet("b", "v 10.0.19041.1", [], negative_kind="version4"),
        snippet("c", "token ghp_x", [("github_token", "ghp_x")], lang="pt"),
    ]
    tally = score(data, "router", scripted({text: [("ssn", 10, 21)]}))
    markdown = report(tally, "test", 0.0)
    assert "| ssn | 1 / 0 | 1.000 | – | 1.000 | – |" in markdown
    assert "| github_token | 0 / 1 | – | 0.000 | – | 0.000 |" in markdown
    assert "| version4 | 1 | 0 | – |" in markdown
    assert "caught 1 (recall 0.500)" in markdown


def test_the_split_is_a_fixed_function_of_the_id() -> None:
    # Pinned: changing the rule would move snippets between the parts after tuning began.
    pinned = [part_of(f"email-en-{n:05d}") for n in range(1, 9)]
    assert pinned == ["tune", "tune", "tune", "tune", "test", "tune", "test", "tune"]
    shares = Counter(part_of(f"id-{n}") for n in range(10_000))
    assert 4_800 < shares["test"] < 5_200


def read_data() -> dict[str, list[dict[str, Any]]]:
    parts = {}
    for part in ("tune", "test"):
        with (DATA_DIR / f"{part}.jsonl").open(encoding="utf-8") as file:
            parts[part] = [json.loads(line) for line in file]
    return parts


@pytest.fixture(scope="module")
def data() -> dict[str, list[dict[str, Any]]]:
    return read_data()


def test_every_labelled_span_holds_its_value(data: dict[str, list[dict[str, Any]]]) -> None:
    for rows in data.values():
        for row in rows:
            for span in row["spans"]:
                assert row["text"][span["start"] : span["end"]] == span["value"], row["id"]
                assert span["end"] > span["start"]


def test_ids_are_unique_and_each_file_holds_its_part(data: dict[str, list[dict[str, Any]]]) -> None:
    ids = [row["id"] for rows in data.values() for row in rows]
    assert len(ids) == len(set(ids))
    for part, rows in data.items():
        assert {part_of(row["id"]) for row in rows} == {part}


def test_the_set_is_large_enough_in_both_languages(data: dict[str, list[dict[str, Any]]]) -> None:
    rows = [row for part in data.values() for row in part]
    negatives = [row for row in rows if "negative_kind" in row]
    assert len(rows) - len(negatives) >= 5_000
    assert len(negatives) >= 1_500
    assert all(row["spans"] == [] for row in negatives)
    assert {row["lang"] for row in rows} == {"en", "pt"}
    kinds = Counter((span["kind"], row["lang"]) for row in rows for span in row["spans"])
    for kind in PII_KINDS:
        assert kinds[(kind, "en")] >= 50 and kinds[(kind, "pt")] >= 50, kind
    assert {"private_key", "password", "stripe_key", "aws_access_key_id", "jwt"} <= {
        k for k, _ in kinds
    }
    assert {row["negative_kind"] for row in negatives} >= {
        "version4",
        "uuid",
        "case_number_00",
        "nine_digits",
    }


def test_the_data_files_stay_small() -> None:
    assert sum((DATA_DIR / f"{part}.jsonl").stat().st_size for part in ("tune", "test")) < 5_000_000
