"""Secrets (kind `secret`): private keys, vendor keys, URL and connection-string passwords, and
values assigned to names that mean a secret; what is kept readable around them; and the scan's
bounds (slices, linear work) on texts made of their markers. The figures on data nobody here
wrote are in loadtest/studies/privacy_eval (issue 14)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.privacy.detectors import detect, find_spans
from router.privacy.scan_work import ScanWork

# A real layout of an RSA key's body (not a key: the lines are made up, the shape is PEM's).
BODY_LINES = [
    "MIIEowIBAAKCAQEAzAKrbjMMVWC5lvfld6Tqrc8oL+bG+337GWHwhFNkyAq7Ksd9",
    "LFr32BZLhbdvwoXK+Hhhfz79E+ZqFiMIIEowIBAAKCAQEAzAKrbjMMVWC5lvfld6",
    "Tqrc8oL+bG+337GWHwhFNkyA==",
]
BODY = "\n".join(BODY_LINES)


def secrets(text: str) -> list[str]:
    return [f.value(text) for f in detect(text) if f.kind == "secret"]


def kinds(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.value(text)) for f in detect(text)]


# Private keys


@pytest.mark.parametrize(
    "label",
    [
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "DSA PRIVATE KEY",
        "PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK",
    ],
)
def test_a_pem_block_is_one_secret_from_begin_to_end(label: str) -> None:
    block = f"-----BEGIN {label}-----\n{BODY}\n-----END {label}-----"
    assert secrets(f"my key:\n{block}\nthanks") == [block]


def test_a_pem_block_indented_in_yaml_is_found_whole() -> None:
    indented = BODY.replace("\n", "\n    ")
    block = f"-----BEGIN EC PRIVATE KEY-----\n    {indented}\n    -----END EC PRIVATE KEY-----"
    assert secrets(f"tls:\n  key: |\n    {block}\n  enabled: true") == [block]


def test_a_pem_block_with_escaped_newlines_takes_its_own_last_escape() -> None:
    escaped = BODY.replace("\n", "\\n")
    block = f"-----BEGIN PRIVATE KEY-----\\n{escaped}\\n-----END PRIVATE KEY-----\\n"
    assert secrets(f'{{"private_key": "{block}"}}') == [block]


def test_a_begin_without_its_end_takes_the_base64_lines_that_follow() -> None:
    text = f"first half:\n-----BEGIN OPENSSH PRIVATE KEY-----\n{BODY}\nthanks"
    assert secrets(text) == [f"-----BEGIN OPENSSH PRIVATE KEY-----\n{BODY}"]


def test_a_password_whose_value_runs_into_a_private_key_keeps_its_own_part() -> None:
    # Found by test_no_secret_leaves in CI: in JSON inside a string the line break is `\n`, so
    # the unquoted value ran on into the key's first line, and the key's span took it whole.
    text = '{"config": "user = aaa\\npassword = 000000000A\\n-----BEGIN OPENSSH PRIVATE KEY-----"}'
    found = secrets(text)
    assert "-----BEGIN OPENSSH PRIVATE KEY-----" in found
    assert any(value.startswith("000000000A") for value in found)


def test_an_end_without_its_begin_takes_the_base64_lines_before_it() -> None:
    text = f"the rest of it\n{BODY}\n-----END RSA PRIVATE KEY-----\nthanks"
    assert secrets(text) == [f"{BODY}\n-----END RSA PRIVATE KEY-----"]


def test_an_end_without_its_begin_in_escaped_json_starts_after_the_quote() -> None:
    escaped = BODY.replace("\n", "\\n")
    text = f'{{"rest": "{escaped}\\n-----END PRIVATE KEY-----\\n"}}'
    assert secrets(text) == [f"{escaped}\\n-----END PRIVATE KEY-----\\n"]


def test_certificates_and_public_keys_are_no_secrets() -> None:
    assert secrets(f"-----BEGIN CERTIFICATE-----\n{BODY}\n-----END CERTIFICATE-----") == []
    assert secrets(f"-----BEGIN PUBLIC KEY-----\n{BODY}\n-----END PUBLIC KEY-----") == []


# Vendor keys: one made-up value in each format of the catalogue (docs/privacy.md).
VENDOR_KEYS = [
    "AKIAIOSFODNN7EXAMPLE",
    "ASIAY34FZKBOKMUTVV7A",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "rk_live_51H8abcdefGHIJKLmnopQRST",
    "sk_test_BddMaqxRA3ABVCOEYcFpQNBs",
    "xoxb-629350619441-0603412654353-lA0WcNqqUPxKB6NqLJDADuSv",
    "https://hooks.slack.com/services/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",
    "ghp_wipAIwRO4e78GJ2vN1JuGZ3oic1CdcVopVfZ",
    "github_pat_6SIcfPcgSCShpX6UdBNGVd_sPhdnUDZH824BomCdhj3edZpz2EWXC",
    "glpat-tATc3hFS4GAtsIeRG2dA",
    "gldt-t8MYEYi2dKE954-77wZV",
    "glrt-IyxWKlzCQBvPLX9v1sA4",
    "GR1348941FmYthMERYJsQSlvuFKLh",
    "sk-proj-RgkznHz_waZBxWB0mK70_jteguUY5c6U7KJvedFvPV3OTuDixsTcVXc4",
    "sk-ant-api03-J6GDxD71IlQ2_9CZFUWeVzabBcuZqo1y95qKTZVqRhYrVhd2HRkl",
    "AC6c6e48dd20621a225016c34385dc7c4e",
    "SKa5510ead5e99d5a0596854e5557a32dc",
    "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",
    "6eed61088ebae23cea346a7397fe720e-us9",
    "sq0csp-0p9h7g6f5e4d3c2b1a0p9h7g6f5e4d3c2b1a0p9h7g6",
    "sq0atp-XOyrRuE7hbF-7A8ovG-MzY",
    "EAAAGgCz-vzUAsbWw2PIdhR6rFOpywvSznBDBGia0Jq1Dmd4V30puFp31-gEi_Dw",
    "npm_i2vXDMB6CTM65vBPpQiK8xXRqzoE7RuJEVqk",
    "pypi-AgEIcHlwaS5vcmcVWzYYWehPcGuX9qXfI8H4bEP1YuhyNhUodC5dnYmRGBntwI-qLGtDT5",
    "NL5Ym1dqs0soh7r-R3umklyadh.hqvE3N.0yONqazuxzgtQ3neCfaVo31pW2m",
    "6929171930:XKPTzmK0RRzw8EBfgFhEa2oBjHbqF6U9XwJ",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    "AKCp8CaTbdLaYIqQMtvd48ptbHJbVN7dWkcQ4ECeyqj2miUws6wR4ClA8VCQOkgFQba5VZqNU",
    "AP2OmUvcF49idqnfxrLePujfbbfc2X9pP",
    "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
]


@pytest.mark.parametrize("key", VENDOR_KEYS, ids=lambda key: key[:10])
@pytest.mark.parametrize("layout", ["Use this key: {} thanks", '{{"k": "{}"}}', "KEY='{}'"])
def test_every_vendor_format_is_found_whole_in_prose_json_and_config(key: str, layout: str) -> None:
    assert secrets(layout.format(key)) == [key]


def test_an_azure_storage_key_is_found_after_account_key_and_alone() -> None:
    key = "izz0sm9vSLBFn2XdEfd9THFXA4ZzWbFhsXFm+IUlwIcIXpJuRLf1KfgbJNB4YTxPcOziMFKaT0AqgW4Lq2AQlA=="
    text = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={key};EndpointSuffix=x"
    assert secrets(text) == [key]
    assert secrets(f"my key is {key}.") == [key]


def test_bearer_tokens_are_still_found() -> None:
    assert secrets('curl -H "Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345"') == [
        "abcdefghijklmnopqrstuvwxyz012345"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "commit 3f786850e387550fdab836ed7c6dc6a2d7a1c2ba fixed it",  # a git SHA-1
        "ACCESSIBILITY and ASIAN markets",  # AWS-like prefixes in words
        "the APIs of APACHE2024 projects",  # Artifactory's "AP" + hex
        "task-force-1234567890abcdefghij",  # "sk-" inside a word
        "see https://hooks.example.com/services/T1/B2/x",
        "UUID 123e4567-e89b-12d3-a456-426614174000, version 10.0.19041.1",
        "the token count was 12 and the password policy is strict",
        "12345678:short",  # a Telegram-like id with a short tail
        "/usr/share/doc/python3/changelog.Debian.gz",
    ],
)
def test_near_misses_of_vendor_formats_are_not_secrets(text: str) -> None:
    assert secrets(text) == []


# Credentials in URLs and connection strings: the password alone, the rest readable.


@pytest.mark.parametrize(
    ("text", "password"),
    [
        ("postgres://user:S3cr3t!Pass_2024@db.internal:5432/app", "S3cr3t!Pass_2024"),
        ("postgresql+psycopg2://app:d8qQ7Lp0t@pg.example.com/db", "d8qQ7Lp0t"),
        ("mongodb+srv://admin:p%40ss%23w0rd@cluster0.example.net/db", "p%40ss%23w0rd"),
        ("redis://:hunter2hunter@cache:6379/0", "hunter2hunter"),
        ("amqps://guest:g!uest(1)@mq.example.org/vhost", "g!uest(1)"),
    ],
)
def test_a_url_password_is_redacted_and_the_user_and_host_stay(text: str, password: str) -> None:
    assert kinds(text) == [("secret", password)]


def test_the_email_detector_never_crosses_url_credentials() -> None:
    text = "postgres://user:S3cr3t!Pass_2024@db.internal.example.com/app or ana@example.com"
    assert kinds(text) == [("secret", "S3cr3t!Pass_2024"), ("email", "ana@example.com")]


@pytest.mark.parametrize(
    ("text", "password"),
    [
        ("Server=db;Database=app;User Id=sa;Password=s)8S29hRt%23;Encrypt=True;", "s)8S29hRt%23"),
        # A value that starts with "=" (found by test_no_secret_leaves' generator).
        ("Server=db;Database=app;User Id=sa;Password==00000000A;", "=00000000A"),
        # ... or with "=(", which in code begins a comparison (found by the same generator).
        ("Server=db.internal;Database=app;User Id=aaa;Password==(0000000A;", "=(0000000A"),
        # ... and one that starts with "&", which also begins a query string's next parameter.
        ("Server=db;Database=app;User Id=sa;Password=&A0000000=;", "&A0000000="),
        ("Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd=8J_D!BMa_lJ;", "8J_D!BMa_lJ"),
        ("Driver={ODBC};Server=db;Uid=sa;PWD={p;a ss w0rd};", "p;a ss w0rd"),
        ("jdbc:sqlserver://db:1433;databaseName=x;user=u;password=&$1jPx1hJy;", "&$1jPx1hJy"),
        ("jdbc:postgresql://db:5432/x?user=u&password=x9dI&+39%23&ssl=true", "x9dI&+39%23"),
        (
            "host=db port=5432 dbname=x user=u password=76DN&jUt%5E0$y2 sslmode=require",
            "76DN&jUt%5E0$y2",
        ),
    ],
)
def test_a_connection_string_password_is_its_value_alone(text: str, password: str) -> None:
    assert secrets(text) == [password]


# Assignments to names that mean a secret.


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("DB_PASSWORD=1mAdqprrGn2)", "1mAdqprrGn2)"),
        ('export SMTP_PASSWORD="^C(I@jFdb#8V%$R"', "^C(I@jFdb#8V%$R"),
        ("password: 'Ko6Hzh$K$e8'", "Ko6Hzh$K$e8"),
        ('client_secret: "_&ZezvO6t7V5$ZQ6"', "_&ZezvO6t7V5$ZQ6"),
        ("[default]\ndb_pass = $Y79vQHyojF+CXj+\n", "$Y79vQHyojF+CXj+"),
        ('{"password": "gB+K*J3x_6DeOJzcwPb"}', "gB+K*J3x_6DeOJzcwPb"),
        (
            '{\\"api_key\\": \\"a8f5f167f44f4964e6c998dee827110c\\"}',
            "a8f5f167f44f4964e6c998dee827110c",
        ),
        ("password = 'hunter2'", "hunter2"),
        ("token := abc123def456", "abc123def456"),
        ("spring.datasource.password=Tr0ub4dor&3", "Tr0ub4dor&3"),
        ("CONTRASENA=gC1&t*zHyxYZ7d", "gC1&t*zHyxYZ7d"),
        ("senha: s3nh4-f0rte", "s3nh4-f0rte"),
        ("X-Api-Key: 0f3c9a7e55d1", "0f3c9a7e55d1"),
        ("const dbPass = 'pa55word!';", "pa55word!"),
        ("--password=Zx9!vQ2m", "Zx9!vQ2m"),
        ("admin_password = @3s(0YzqK6+iBzBZJ)##", "@3s(0YzqK6+iBzBZJ)##"),
    ],
)
def test_the_value_assigned_to_a_secret_name_is_a_secret(text: str, value: str) -> None:
    assert secrets(text) == [value]


@pytest.mark.parametrize(
    "text",
    [
        "password: ${DB_PASSWORD}",
        "DB_PASSWORD=$DB_PASSWORD",
        "password = <your password here>",
        "password: ***",
        'password: ""',
        "password = getpass()",
        'token = os.environ["TOKEN"]',
        "password=password",
        "secret: null",
        "is_secret = True",
        "password_file = /run/secrets/db",
        "max_tokens: 256",
        "bypass = 1234567",
        "the password is in the safe",
        "Password: Enter your password",
        "private_key: |",
        "if password == 'x':",
        "passwd: %(password)s",
        "OPENAI_API_KEY=sk-... in your .env",
        'api_key: "YOUR_API_KEY"',
        "password = your_password_here",
    ],
)
def test_non_values_and_names_that_do_not_mean_a_secret_are_left(text: str) -> None:
    assert secrets(text) == []


def test_a_secret_is_not_also_taken_by_another_kind() -> None:
    text = "SMTP_PASSWORD=ana@corp.io4111111111111111"
    assert kinds(text) == [("secret", "ana@corp.io4111111111111111")]


# The scan's bounds with the secrets' markers.

PIECES = st.one_of(
    st.text("abcXYZ0129+/=_-", min_size=1, max_size=12),
    st.sampled_from(
        [
            *(" ", "\n", "\\n", "  ", ":", "=", ";", "&", "@", "://", '"', "'", "{", "}", "."),
            *(
                "-----BEGIN ",
                "-----END ",
                "RSA PRIVATE KEY-----",
                "PRIVATE KEY-----",
                BODY_LINES[0],
            ),
            *("password", "DB_PASSWORD=", "secret: ", '"token": "', "Pwd=", "pass", "key"),
            *("postgres://u:", "mongodb+srv://", "AKIA", "sk_live_", "SG.", "-us1", "AccountKey="),
            *("glpat-", "xoxb-", "hooks.slack.com/services/", "1234567890:", "EAAA", "npm_"),
            *("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "abcdefghijklmnopqrstuvwxyz012345"),
        ]
    ),
)
TEXTS = st.lists(PIECES, min_size=1, max_size=50).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, slice_chars=st.sampled_from([1, 2, 5, 13, 64]))
def test_the_secrets_are_the_same_whatever_the_slice(text: str, slice_chars: int) -> None:
    assert list(find_spans(text, ScanWork(slice_chars))) == list(find_spans(text, ScanWork(10**9)))


# A seed is repeated to 128 characters at least, and copied 16 times at least, so that the
# copies past that make no value longer than the ones already made: a value is read up to 1,024
# characters (`credentials.py`), and no other of a bounded length is longer than 88.
SHORTEST_SEED = 128


@settings(max_examples=200, deadline=None)
@given(seed=TEXTS)
def test_the_secret_scan_takes_steps_in_proportion_to_the_text(seed: str) -> None:
    seed = seed * -(-SHORTEST_SEED // len(seed))
    per_character = []
    for copies in (16, 32, 64):
        text = seed * copies
        work = ScanWork()
        list(find_spans(text, work))
        per_character.append(work.steps / len(text))
        assert work.widest_call <= 4096 + 64
    assert max(per_character) <= 16, per_character
    assert per_character[2] <= per_character[1] + 0.5, per_character


LONG_TEXTS = [
    "-----BEGIN RSA PRIVATE KEY-----\n" + (BODY_LINES[0] + "\n") * 80,
    "x\n" + (BODY_LINES[0] + "\n") * 80 + "-----END PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----" * 300,
    "-----END PRIVATE KEY-----" * 300,
    ("postgres://u:" + "p1" * 30 + "@db.example.com/x ") * 60,
    "://" * 2000,
    "password=" + "x1" * 2000,
    "passwordpasswordpassword" * 200,
    "keykeykey=" * 500,
    "0+/" * 2000,
    "AccountKey=" + "A" * 3000,
]


@pytest.mark.parametrize("text", LONG_TEXTS, ids=lambda text: text[:12])
def test_long_secret_texts_are_scanned_in_slices_with_the_same_findings(text: str) -> None:
    work = ScanWork(slice_chars=100)
    assert list(find_spans(text, work)) == list(find_spans(text, ScanWork(10**9)))
    assert work.widest_call <= 100 + 64
    assert work.steps <= 16 * len(text)


@pytest.mark.parametrize(
    "text",
    [
        'if password == "Xy7kPq2mZ9":',
        'if password=="Xy7kPq2mZ9":',
        "check password==",
        "if password==(given):",
    ],
)
def test_a_comparison_with_a_password_is_not_an_assignment(text: str) -> None:
    assert secrets(text) == []
