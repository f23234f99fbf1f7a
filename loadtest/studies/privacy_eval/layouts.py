"""How values are laid into text: a `Draft` collects text and labelled values, and each layout
function writes one snippet shape (a filled gettext message, a chat turn, JSON in text, a markdown
table, a line of code, a config block, a connection string, a PEM block in YAML, ...).

The structure (JSON, YAML, .env, connection string grammars) is the formats'; the sentences around
it are harvested text (carriers.py); the short connecting phrases ("my card is", "meu cartão é")
and field names are the only words written here (FRAMINGS, FIELD_NAMES, ENV_NAMES).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

# Short phrases that introduce a value in a chat turn, per gold kind and language.
FRAMINGS = {
    "email": (
        ("my email is ", "you can reach me at ", "send it to "),
        ("meu e-mail é ", "pode mandar para ", "e-mail: "),
    ),
    "phone": (
        ("call me at ", "my phone number is ", "phone: "),
        ("meu telefone é ", "me liga no ", "celular: "),
    ),
    "card": (
        ("my card is ", "card number ", "charge the card "),
        ("meu cartão é ", "número do cartão ", "cartão de crédito "),
    ),
    "iban": (
        ("my IBAN is ", "wire it to IBAN ", "account "),
        ("meu IBAN é ", "transfira para o IBAN ", "conta "),
    ),
    "cpf": (
        ("my CPF is ", "CPF ", "taxpayer id (CPF) "),
        ("meu CPF é ", "CPF: ", "o CPF do titular é "),
    ),
    "cnpj": (
        ("the company CNPJ is ", "CNPJ ", "vendor CNPJ: "),
        ("o CNPJ da empresa é ", "CNPJ: ", "CNPJ do fornecedor "),
    ),
    "ssn": (
        ("my SSN is ", "social security number ", "SSN "),
        ("meu SSN é ", "número do seguro social ", "SSN "),
    ),
    "ip": (
        ("the server is at ", "blocked IP ", "connect to "),
        ("o servidor está em ", "IP bloqueado ", "conecte em "),
    ),
    "secret": (
        ("here is my key: ", "the token is ", "use this key "),
        ("minha chave é ", "o token é ", "use esta chave: "),
    ),
}
FIELD_NAMES = {
    "email": ("email", "e-mail", "contact_email"),
    "phone": ("phone", "telefone", "mobile"),
    "card": ("card_number", "cartao", "pan"),
    "iban": ("iban", "IBAN", "conta_iban"),
    "cpf": ("cpf", "CPF", "documento"),
    "cnpj": ("cnpj", "CNPJ", "documento_empresa"),
    "ssn": ("ssn", "SSN", "social_security_number"),
    "ip": ("ip", "client_ip", "remote_addr"),
}
# Environment names vendors' documentation uses for their keys.
ENV_NAMES = {
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
    "aws_secret_key": ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
    "stripe_key": ("STRIPE_SECRET_KEY", "STRIPE_API_KEY"),
    "slack_token": ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL"),
    "github_token": ("GITHUB_TOKEN", "GH_TOKEN"),
    "gitlab_token": ("GITLAB_TOKEN", "CI_JOB_TOKEN"),
    "openai_key": ("OPENAI_API_KEY",),
    "anthropic_key": ("ANTHROPIC_API_KEY",),
    "twilio_key": ("TWILIO_ACCOUNT_SID", "TWILIO_API_KEY"),
    "sendgrid_key": ("SENDGRID_API_KEY",),
    "mailchimp_key": ("MAILCHIMP_API_KEY",),
    "square_token": ("SQUARE_ACCESS_TOKEN",),
    "npm_token": ("NPM_TOKEN",),
    "pypi_token": ("TWINE_PASSWORD", "PYPI_TOKEN"),
    "discord_token": ("DISCORD_TOKEN",),
    "telegram_token": ("TELEGRAM_BOT_TOKEN",),
    "jwt": ("ACCESS_TOKEN", "JWT"),
    "azure_storage_key": ("AZURE_STORAGE_KEY",),
    "google_api_key": ("GOOGLE_API_KEY",),
    "artifactory_token": ("ARTIFACTORY_API_KEY",),
}
# Secret-like names after detect-secrets' plugins/keyword.py DENYLIST (password, passwd, pwd,
# secret, api_?key, auth_?key, db_?pass, client_?key, private_?key...), spelled as configs do.
SECRET_NAMES = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "client_secret",
    "auth_key",
    "db_pass",
    "DB_PASSWORD",
    "database_password",
    "POSTGRES_PASSWORD",
    "MYSQL_ROOT_PASSWORD",
    "REDIS_PASSWORD",
    "smtp_password",
    "admin_password",
    "secret_key",
    "SECRET_KEY",
    "senha",
    "contrasena",
)


@dataclass
class Draft:
    """Text under construction and the labelled values in it."""

    parts: list[str] = field(default_factory=list)
    spans: list[dict[str, object]] = field(default_factory=list)
    length: int = 0

    def text(self, piece: str) -> Draft:
        self.parts.append(piece)
        self.length += len(piece)
        return self

    def value(self, piece: str, kind: str) -> Draft:
        self.spans.append(
            {"start": self.length, "end": self.length + len(piece), "kind": kind, "value": piece}
        )
        return self.text(piece)

    def done(self) -> tuple[str, list[dict[str, object]]]:
        return "".join(self.parts), self.spans


def framing(kind: str, lang: str, rng: random.Random) -> str:
    en, pt = FRAMINGS.get(kind, FRAMINGS["secret"])
    return rng.choice(pt if lang == "pt" else en)


def json_escaped(value: str, rng: random.Random) -> str:
    """The value as JSON string contents, `@` sometimes as `\\u0040` (as some encoders write)."""
    encoded = json.dumps(value, ensure_ascii=rng.random() < 0.5)[1:-1]
    if "@" in encoded and rng.random() < 0.5:
        encoded = encoded.replace("@", "\\u0040")
    return encoded


def glue_word(sentence: str, rng: random.Random) -> str:
    """A word of a real sentence, to glue to a value (letters only)."""
    words = [w for w in sentence.split() if w.isalpha() and len(w) >= 3] or ["ref"]
    return rng.choice(words).lower()


def connection_string(
    draft: Draft, rng: random.Random, user: str, host: str, db: str, password: str
) -> None:
    """A connection string of one of the common grammars, with the password labelled."""
    grammar = rng.randrange(5)
    if grammar == 0:
        scheme = rng.choice(
            (
                "postgresql",
                "postgresql+psycopg2",
                "postgres",
                "mysql+pymysql",
                "mysql",
                "mongodb",
                "mongodb+srv",
                "redis",
                "rediss",
                "amqp",
                "amqps",
                "mssql+pyodbc",
                "oracle+cx_oracle",
                "ftp",
                "sftp",
                "smtp",
                "https",
                "clickhouse",
                "nats",
            )
        )
        port = rng.choice(("", ":5432", ":3306", ":27017", ":6379", ":5672", ""))
        draft.text(f"{scheme}://{user}:").value(password, "password").text(f"@{host}{port}/{db}")
    elif grammar == 1:
        draft.text(f"Server={host};Database={db};User Id={user};Password=").value(
            password, "password"
        )
        draft.text(rng.choice((";", ";TrustServerCertificate=True;", ";Encrypt=True;")))
    elif grammar == 2:
        if rng.random() < 0.5:
            draft.text(f"jdbc:postgresql://{host}:5432/{db}?user={user}&password=").value(
                password, "password"
            )
        else:
            draft.text(
                f"jdbc:sqlserver://{host}:1433;databaseName={db};user={user};password="
            ).value(password, "password")
            draft.text(";")
    elif grammar == 3:
        driver = rng.choice(
            ("{ODBC Driver 18 for SQL Server}", "{PostgreSQL Unicode}", "{MySQL ODBC 8.0 Driver}")
        )
        draft.text(f"Driver={driver};Server={host};Database={db};Uid={user};Pwd=").value(
            password, "password"
        )
        draft.text(";")
    else:
        draft.text(f"host={host} port=5432 dbname={db} user={user} password=").value(
            password, "password"
        )


def assignment(draft: Draft, rng: random.Random, name: str, value: str, kind: str) -> None:
    """`name = value` in one of the config grammars people paste."""
    grammar = rng.randrange(6)
    if grammar == 0:
        draft.text(f"{name.upper()}=").value(value, kind)
    elif grammar == 1:
        draft.text(f'export {name.upper()}="').value(value, kind).text('"')
    elif grammar == 2:
        draft.text(f'{name}: "').value(value, kind).text('"')
    elif grammar == 3:
        draft.text(f"[default]\n{name} = ").value(value, kind)
    elif grammar == 4:
        draft.text(f'{{"{name}": "').value(json_escaped(value, rng), kind).text('"}')
    else:
        draft.text(f"{name.lower()} = '").value(value, kind).text("'")


def yaml_pem(draft: Draft, rng: random.Random, pem: str) -> None:
    """A PEM block as a YAML block scalar: indented lines, labelled from BEGIN to END."""
    indent = " " * rng.choice((4, 6))
    key = rng.choice(("private_key", "tls_key", "ssh_key", "key"))
    draft.text(f"tls:\n  {key}: |\n{indent}")
    draft.value(pem.replace("\n", "\n" + indent), "private_key")
    draft.text("\n  enabled: true")
