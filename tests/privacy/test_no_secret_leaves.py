"""Proof that the secrets and layouts real prompts carry never reach the cloud, by what the
simulated cloud received (the companion of `test_no_pii_leaves.py`, for issue 14's kinds).

Hypothesis writes conversations holding: private keys (Ed25519 and EC keys made by `cryptography`
from drawn bytes, as PKCS#8, SEC1 and OpenSSH PEM), whole, indented in YAML, in JSON inside the
text (with `\\n` escapes), or split across two messages or a message and a tool call's arguments;
passwords in URLs of many schemes (`+driver` ones included), ADO.NET, JDBC and ODBC strings, and in
`.env`, `export`, YAML, INI and JSON assignments; vendor keys of the formats a secret scanner
knows; US SSNs spaced or as nine digits after a label; e-mail addresses JSON-escaped (`\\u0040`)
and glued to letters. Each conversation goes, as JSON and as a stream, to the tenants whose
policy keeps PII from the cloud (`redact`, `local-only`, `block`); every byte each cloud region
received is searched for every value (for a key, every line of its base64 body), and with
`redact` the echoed answer must be the client's own conversation, every placeholder restored.
"""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.privacy.leak_proof import BackgroundStack, background_stack, check_nothing_leaves

ALNUM = string.ascii_letters + string.digits
PASSWORD_CHARS = ALNUM + "!#$%^&*()_+-=.~"
WORDS = ("please", "deploy", "with", "this", "config", "segue", "a", "configuração", "obrigado")


@dataclass(frozen=True)
class Written:
    """Text holding secrets, and the forms of them that must never leave."""

    kind: str
    parts: tuple[str, ...]  # one text, or two halves for different messages
    forms: tuple[str, ...]


def _private_key(seed: bytes, layout: str) -> tuple[str, tuple[str, ...]]:
    if layout == "ed25519-openssh":
        key: Any = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        fmt = serialization.PrivateFormat.OpenSSH
    else:
        scalar = int.from_bytes(seed, "big") % (2**255) + 1
        key = ec.derive_private_key(scalar, ec.SECP256R1())
        fmt = (
            serialization.PrivateFormat.PKCS8
            if layout == "ec-pkcs8"
            else serialization.PrivateFormat.TraditionalOpenSSL
        )
    pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
    body_lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return pem.strip(), tuple(line for line in body_lines if len(line) >= 16)


@st.composite
def private_keys(draw: st.DrawFn) -> Written:
    pem, lines = _private_key(
        draw(st.binary(min_size=32, max_size=32)),
        draw(st.sampled_from(["ed25519-openssh", "ec-pkcs8", "ec-sec1"])),
    )
    layout = draw(st.sampled_from(["whole", "yaml", "json-in-text", "split"]))
    if layout == "yaml":
        indented = "\n".join("    " + line for line in pem.splitlines())
        return Written("private_key", (f"tls:\n  key: |\n{indented}\n  port: 443",), lines)
    if layout == "json-in-text":
        return Written("private_key", (json.dumps({"private_key": pem}),), lines)
    if layout == "split":
        pem_lines = pem.splitlines()
        cut = draw(st.integers(1, len(pem_lines) - 1))
        halves = ("\n".join(pem_lines[:cut]), "\n".join(pem_lines[cut:]))
        return Written("private_key", halves, lines)
    return Written("private_key", (f"here is the key:\n{pem}\nthanks",), lines)


SCHEMES = (
    "postgres", "postgresql+psycopg2", "mysql+pymysql", "mongodb+srv", "redis", "rediss", "amqp",
    "amqps", "mssql+pyodbc", "ftp", "https", "sftp", "ldap",
)  # fmt: skip


@st.composite
def passwords(draw: st.DrawFn) -> Written:
    password = draw(st.text(PASSWORD_CHARS, min_size=10, max_size=24).filter(_mixed))
    user = draw(st.text(string.ascii_lowercase, min_size=3, max_size=8))
    layout = draw(
        st.sampled_from(["url", "ado", "jdbc", "odbc", "env", "export", "yaml", "ini", "json"])
    )
    encoded = quote(password, safe="")
    text = {
        "url": f"{draw(st.sampled_from(SCHEMES))}://{user}:{encoded}@db.internal:5432/app",
        "ado": f"Server=db.internal;Database=app;User Id={user};Password={password};",
        "jdbc": f"jdbc:sqlserver://db.internal:1433;user={user};password={password};",
        "odbc": f"Driver={{ODBC Driver 18}};Server=db;Uid={user};Pwd={{{password}}};",
        "env": f"DB_HOST=db.internal\nDB_PASSWORD={password}\nDB_PORT=5432",
        "export": f'export API_SECRET="{password}"',
        "yaml": f"database:\n  user: {user}\n  password: '{password}'",
        "ini": f"[database]\nuser = {user}\npassword = {password}",
        "json": json.dumps({"user": user, "client_secret": password}),
    }[layout]
    return Written("password", (text,), (password, encoded))


def _mixed(password: str) -> bool:
    return any(c.isalpha() for c in password) and any(c.isdigit() for c in password)


def _chars(draw: st.DrawFn, alphabet: str, size: int) -> str:
    return draw(st.text(alphabet, min_size=size, max_size=size))


@st.composite
def vendor_keys(draw: st.DrawFn) -> Written:
    vendor = draw(
        st.sampled_from(
            ["stripe", "aws", "slack", "github", "gitlab", "anthropic", "google", "npm", "jwt"]
        )
    )
    upper = string.ascii_uppercase + string.digits
    key = {
        "stripe": lambda: "sk_live_" + _chars(draw, ALNUM, 24),
        "aws": lambda: "AKIA" + _chars(draw, upper, 16),
        "slack": lambda: "xoxb-" + _chars(draw, string.digits, 11) + "-" + _chars(draw, ALNUM, 24),
        "github": lambda: "ghp_" + _chars(draw, ALNUM, 36),
        "gitlab": lambda: "glpat-" + _chars(draw, ALNUM, 20),
        "anthropic": lambda: "sk-ant-api03-" + _chars(draw, ALNUM + "-_", 93) + "AA",
        "google": lambda: "AIza" + _chars(draw, ALNUM + "-_", 35),
        "npm": lambda: "npm_" + _chars(draw, ALNUM, 36),
        "jwt": lambda: _jwt(draw),
    }[vendor]()
    framing = draw(st.sampled_from(["key {} works", "TOKEN={}", '{{"token": "{}"}}', "`{}`"]))
    return Written("vendor_key", (framing.format(key),), (key,))


def _jwt(draw: st.DrawFn) -> str:
    def part(payload: dict[str, Any]) -> str:
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    subject = _chars(draw, string.digits, 8)
    signature = _chars(draw, ALNUM + "-_", 43)
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': subject})}.{signature}"


@st.composite
def ssns(draw: st.DrawFn) -> Written:
    area = draw(st.integers(1, 899).filter(lambda n: n != 666))
    group, serial = draw(st.integers(1, 99)), draw(st.integers(1, 9999))
    digits = f"{area:03d}{group:02d}{serial:04d}"
    spaced = f"{digits[:3]} {digits[3:5]} {digits[5:]}"
    label = draw(st.sampled_from(["SSN:", "SSN#", "Social Security No.", "social security number"]))
    written = draw(st.sampled_from([spaced, digits]))
    return Written("ssn", (f"{label} {written}",), (written, digits))


@st.composite
def emails(draw: st.DrawFn) -> Written:
    local = draw(st.text(string.ascii_lowercase, min_size=3, max_size=10))
    domain = draw(st.text(string.ascii_lowercase, min_size=3, max_size=10)) + ".com"
    layout = draw(st.sampled_from(["json-escaped", "glued"]))
    if layout == "json-escaped":
        text = '{"contact": "' + local + "\\u0040" + domain + '"}'
        return Written("email", (text,), (f"{local}@{domain}", f"{local}\\u0040{domain}"))
    return Written("email", (f"contato:{local}@{domain}obrigado",), (f"{local}@{domain}",))


SLOTS = ("system", "user_first", "assistant", "tool_arguments", "user_last")


@st.composite
def conversations(draw: st.DrawFn) -> tuple[dict[str, Any], list[Written]]:
    found = draw(
        st.lists(
            st.one_of(private_keys(), passwords(), vendor_keys(), ssns(), emails()),
            min_size=1,
            max_size=3,
        )
    )
    texts: dict[str, list[str]] = {slot: [] for slot in SLOTS}
    for written in found:
        slots = draw(st.permutations(SLOTS))
        for slot, part in zip(slots, written.parts, strict=False):
            texts[slot].append(part)  # a split key's halves land in different messages

    def text(slot: str) -> str:
        words = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=3)))
        return "\n".join([words, *texts[slot]]).strip() or "ok"

    arguments = json.dumps({"config": text("tool_arguments")}, ensure_ascii=False)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": text("system")},
        {"role": "user", "content": text("user_first")},
        {"role": "assistant", "content": text("assistant")},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "apply", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "done"},
        {"role": "user", "content": text("user_last")},
    ]
    return {"model": "gpt-4o-mini", "messages": messages}, found


@pytest.fixture(scope="module")
def background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundStack]:
    with background_stack(tmp_path_factory.mktemp("policies")) as background:
        yield background


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(conversation=conversations(), piece_chars=st.integers(1, 9), stream=st.booleans())
def test_no_secret_of_any_layout_reaches_the_cloud_and_redact_gives_it_back(
    background: BackgroundStack,
    conversation: tuple[dict[str, Any], list[Written]],
    piece_chars: int,
    stream: bool,
) -> None:
    body, found = conversation
    forms = [(written.kind, form) for written in found for form in written.forms]
    background.run(check_nothing_leaves(background.stack, body, forms, piece_chars, stream))
