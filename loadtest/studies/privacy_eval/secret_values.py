"""Secret values, one generator per provider and format, each made from a seeded `random.Random`.

The formats follow detect-secrets 1.5.0's plugin catalogue (the regex each one copies is named in
its comment, `plugins/<file>.py`); formats detect-secrets has no plugin for follow GitGuardian's
public detector list (named "GitGuardian: <detector>"). Private keys are real keys made by the
`cryptography` package from seeded numbers, so the same seed gives the same PEM text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import string
import struct
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
BASE64 = ALNUM + "+/"
HEX = "0123456789abcdef"


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def aws_access_key_id(rng: random.Random) -> str:
    # plugins/aws.py: (?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}
    return rng.choice(("AKIA", "AKIA", "ASIA", "ABIA")) + _pick(
        rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16
    )


def aws_secret_access_key(rng: random.Random) -> str:
    # plugins/aws.py: a 40-character [0-9a-zA-Z/+] value assigned to aws...secret
    return _pick(rng, BASE64, 40)


def stripe_key(rng: random.Random) -> str:
    # plugins/stripe.py: (?:r|s)k_live_[0-9a-zA-Z]{24}; today's keys are longer (99 characters)
    return rng.choice(("sk_live_", "rk_live_", "sk_test_")) + _pick(
        rng, ALNUM, rng.choice((24, 99))
    )


def slack_token(rng: random.Random) -> str:
    # plugins/slack.py: xox(?:a|b|p|o|s|r)-(?:\d+-)+[a-z0-9]+, and the webhook URL
    kind = rng.randrange(4)
    if kind == 0:
        team, bot = _pick(rng, string.digits, 12), _pick(rng, string.digits, 13)
        return f"xoxb-{team}-{bot}-{_pick(rng, ALNUM, 24)}"
    if kind == 1:
        groups = "-".join(_pick(rng, string.digits, 12) for _ in range(3))
        return f"xoxp-{groups}-{_pick(rng, HEX, 32)}"
    if kind == 2:
        team, app = _pick(rng, string.digits, 12), _pick(rng, string.digits, 13)
        return f"xoxa-2-{team}-{app}-{_pick(rng, HEX, 64)}"
    upper = string.ascii_uppercase + string.digits
    team, channel = _pick(rng, upper, 10), _pick(rng, upper, 10)
    return f"https://hooks.slack.com/services/T{team}/B{channel}/{_pick(rng, ALNUM, 24)}"


def github_token(rng: random.Random) -> str:
    # plugins/github_token.py: (ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{36};
    # GitGuardian: GitHub Fine-Grained Personal Access Token (github_pat_ 22 _ 59)
    if rng.random() < 0.3:
        return f"github_pat_{_pick(rng, ALNUM, 22)}_{_pick(rng, ALNUM, 59)}"
    return rng.choice(("ghp", "gho", "ghu", "ghs", "ghr")) + "_" + _pick(rng, ALNUM, 36)


def gitlab_token(rng: random.Random) -> str:
    # plugins/gitlab_token.py: (glpat|gldt|glft|glsoat|glrt)-[A-Za-z0-9_\-]{20,50}, GR1348941...
    if rng.random() < 0.15:
        return "GR1348941" + _pick(rng, URLSAFE, 20)
    return rng.choice(("glpat", "glpat", "gldt", "glrt", "glsoat")) + "-" + _pick(rng, URLSAFE, 20)


def openai_key(rng: random.Random) -> str:
    # plugins/openai.py: sk-[A-Za-z0-9-_]*[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20};
    # GitGuardian: OpenAI Project API Key (sk-proj-, longer halves around the same marker)
    if rng.random() < 0.5:
        return f"sk-{_pick(rng, ALNUM, 20)}T3BlbkFJ{_pick(rng, ALNUM, 20)}"
    return f"sk-proj-{_pick(rng, URLSAFE, 74)}T3BlbkFJ{_pick(rng, URLSAFE, 74)}"


def anthropic_key(rng: random.Random) -> str:
    # GitGuardian: Anthropic API Key (sk-ant-api03- + 93 url-safe characters + AA; admin keys too)
    prefix = rng.choice(("sk-ant-api03-", "sk-ant-api03-", "sk-ant-admin01-"))
    return prefix + _pick(rng, URLSAFE, 93) + "AA"


def twilio_key(rng: random.Random) -> str:
    # plugins/twilio.py: AC[a-z0-9]{32} (account SID), SK[a-z0-9]{32} (API key)
    return rng.choice(("AC", "SK")) + _pick(rng, HEX, 32)


def sendgrid_key(rng: random.Random) -> str:
    # plugins/sendgrid.py: SG\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9_-]{43}
    return f"SG.{_pick(rng, URLSAFE, 22)}.{_pick(rng, URLSAFE, 43)}"


def mailchimp_key(rng: random.Random) -> str:
    # plugins/mailchimp.py: [0-9a-z]{32}-us[0-9]{1,2}
    return f"{_pick(rng, HEX, 32)}-us{rng.randint(1, 21)}"


def square_token(rng: random.Random) -> str:
    # plugins/square_oauth.py: sq0csp-[0-9A-Za-z\\\-_]{43};
    # GitGuardian: Square Access Token (sq0atp- 22, and EAAA + 60)
    kind = rng.randrange(3)
    if kind == 0:
        return "sq0csp-" + _pick(rng, URLSAFE, 43)
    if kind == 1:
        return "sq0atp-" + _pick(rng, URLSAFE, 22)
    return "EAAA" + _pick(rng, URLSAFE, 60)


def npm_token(rng: random.Random) -> str:
    # plugins/npm.py: //registry.../:_authToken=(npm_.+|[A-Fa-f0-9-]{36})
    return "npm_" + _pick(rng, ALNUM, 36)


def pypi_token(rng: random.Random) -> str:
    # plugins/pypi_token.py: pypi-AgEIcHlwaS5vcmc[A-Za-z0-9-_]{70,} (and the test.pypi.org prefix)
    prefix = rng.choice(
        ("pypi-AgEIcHlwaS5vcmc", "pypi-AgEIcHlwaS5vcmc", "pypi-AgENdGVzdC5weXBpLm9yZw")
    )
    return prefix + _pick(rng, URLSAFE, rng.randint(70, 160))


def discord_token(rng: random.Random) -> str:
    # plugins/discord.py: [MNO][a-zA-Z\d_-]{23,25}\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}
    user = rng.choice("MNO") + _pick(rng, URLSAFE, rng.randint(23, 25))
    return f"{user}.{_pick(rng, URLSAFE, 6)}.{_pick(rng, URLSAFE, 27)}"


def telegram_token(rng: random.Random) -> str:
    # plugins/telegram_token.py: \d{8,10}:[0-9A-Za-z_-]{35}
    return f"{rng.randint(10**7, 10**10 - 1)}:{_pick(rng, URLSAFE, 35)}"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_token(rng: random.Random) -> str:
    # plugins/jwt.py: eyJ[A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+\.?[A-Za-z0-9-_.+/=]*?  — a real HS256 JWT
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "sub": str(rng.randint(1, 10**9)),
        "iat": rng.randint(1_600_000_000, 1_800_000_000),
        "scope": rng.choice(("read", "read write", "admin")),
    }
    signing_input = (
        _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
    )
    signature = hmac.new(rng.randbytes(32), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)


def azure_storage_key(rng: random.Random) -> str:
    # plugins/azure_storage_key.py: AccountKey=[a-zA-Z0-9+\/=]{88} (the value after AccountKey=)
    return base64.b64encode(rng.randbytes(64)).decode()


def google_api_key(rng: random.Random) -> str:
    # GitGuardian: Google API Key (AIza + 35 url-safe characters)
    return "AIza" + _pick(rng, URLSAFE, 35)


def artifactory_token(rng: random.Random) -> str:
    # plugins/artifactory.py: AKC[a-zA-Z0-9]{10,} (API token), AP[\dABCDEF][a-zA-Z0-9]{8,}
    if rng.random() < 0.7:
        return "AKCp8" + _pick(rng, ALNUM, 68)
    return "AP" + rng.choice("0123456789ABCDEF") + _pick(rng, ALNUM, 30)


# Gold kind -> value generator. `password` values come from Faker (see pii_values.py).
VENDOR_KEYS: dict[str, Callable[[random.Random], str]] = {
    "aws_access_key_id": aws_access_key_id,
    "aws_secret_key": aws_secret_access_key,
    "stripe_key": stripe_key,
    "slack_token": slack_token,
    "github_token": github_token,
    "gitlab_token": gitlab_token,
    "openai_key": openai_key,
    "anthropic_key": anthropic_key,
    "twilio_key": twilio_key,
    "sendgrid_key": sendgrid_key,
    "mailchimp_key": mailchimp_key,
    "square_token": square_token,
    "npm_token": npm_token,
    "pypi_token": pypi_token,
    "discord_token": discord_token,
    "telegram_token": telegram_token,
    "jwt": jwt_token,
    "azure_storage_key": azure_storage_key,
    "google_api_key": google_api_key,
    "artifactory_token": artifactory_token,
}


def _probable_prime(rng: random.Random, bits: int) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if all(candidate % p for p in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)) and _miller_rabin(
            rng, candidate
        ):
            return candidate


def _miller_rabin(rng: random.Random, n: int, rounds: int = 24) -> bool:
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _rsa_key(rng: random.Random, bits: int) -> rsa.RSAPrivateKey:
    # cryptography cannot take a seed, so the primes are drawn here and the key built from them.
    e = 65537
    while True:
        p, q = _probable_prime(rng, bits // 2), _probable_prime(rng, bits // 2)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    )
    return numbers.private_key()


def _fix_openssh_checkint(pem: bytes, rng: random.Random) -> bytes:
    """OpenSSH's private section starts with a random check integer written twice (os.urandom in
    cryptography): set it from the seeded generator so the output is reproducible."""
    lines = pem.decode().strip().splitlines()
    blob = bytearray(base64.b64decode("".join(lines[1:-1])))
    pos = len(b"openssh-key-v1\0")
    for _ in range(3):  # cipher name, kdf name, kdf options
        (length,) = struct.unpack(">I", blob[pos : pos + 4])
        pos += 4 + length
    pos += 4  # number of keys
    (length,) = struct.unpack(">I", blob[pos : pos + 4])
    pos += 4 + length + 4  # public key, then the private section's length
    check = rng.randbytes(4)
    blob[pos : pos + 8] = check + check
    body = base64.b64encode(bytes(blob)).decode()
    wrapped = [body[i : i + 70] for i in range(0, len(body), 70)]
    return "\n".join([lines[0], *wrapped, lines[-1]]).encode() + b"\n"


def private_key_pem(rng: random.Random) -> str:
    # plugins/private_key.py: BEGIN (DSA|EC|OPENSSH|PGP|RSA|SSH2 ENCRYPTED)? PRIVATE KEY
    family = rng.choice(("rsa", "rsa", "ec", "ed25519"))
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if family == "rsa":
        key = _rsa_key(rng, rng.choice((1024, 2048)))
        formats = ("pkcs1", "pkcs8", "openssh")
    elif family == "ec":
        curve = rng.choice((ec.SECP256R1(), ec.SECP384R1()))
        key = ec.derive_private_key(rng.randrange(1, 2**250), curve)
        formats = ("sec1", "pkcs8", "openssh")
    else:
        key = ed25519.Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        formats = ("pkcs8", "openssh")
    layout = rng.choice(formats)
    encoding, none = serialization.Encoding.PEM, serialization.NoEncryption()
    if layout in ("pkcs1", "sec1"):
        pem = key.private_bytes(encoding, serialization.PrivateFormat.TraditionalOpenSSL, none)
    elif layout == "pkcs8":
        pem = key.private_bytes(encoding, serialization.PrivateFormat.PKCS8, none)
    else:
        pem = _fix_openssh_checkint(
            key.private_bytes(encoding, serialization.PrivateFormat.OpenSSH, none), rng
        )
    return pem.decode().strip()
