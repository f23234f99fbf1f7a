"""Credentials written into configuration: the password of a URL, and the value assigned to a name
that means a secret. Only the value is the secret: the user, the host, the name and the
structure around it stay readable, so a model can still talk about the configuration.

- **URLs**, any scheme (`postgresql+psycopg2://`, `mongodb+srv://`, `rediss://`):
  `scheme://user:password@host`, the password alone. It ends at the authority's last "@", so
  an unencoded "@" in it is taken too.
- **Assignments** to names that mean a secret, in every layout configuration is written in:
  `.env` and `export` (`DB_PASSWORD=...`), YAML (`password: ...`), INI (`password = ...`), JSON
  (`"password": "..."`), code (`password = "..."`, `password := ...`), connection strings
  (ADO.NET `Password=...;`, ODBC `PWD={...};`, JDBC `password=...` in `;` or `&` lists, libpq
  `password=...`). The value is the quoted content, the braced content, or the unquoted run up
  to whitespace, ";", "," or, in a query string, the next `&name=`. Obvious non-values are
  skipped: `${VAR}`, `$VAR`, `<...>`, `***`, booleans and null, and unquoted code (`password =
  getpass()`, `token=request.token`).

The names are detect-secrets' keyword plugin's (`detect_secrets/plugins/keyword.py`:
`api_?key`, `auth_?key`, `service_?key`, `account_?key`, `db_?key`, `database_?key`,
`priv(ate)?_?key`, `client_?key`, `db_?pass`, `database_?pass`, `key_?pass`, `password`,
`passwd`, `pwd`, `secret`, `contraseña`), with `token`, `credentials`, `access_key`,
`secret_key`, `pass` and `senha` added. A name means a secret when it ends with one of them
(`DB_PASSWORD`, `client_secret`, `OPENAI_API_KEY`); `password_file` and `max_tokens` do not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from router.privacy.scan_work import ScanWork, Span

# URL credentials: after "://", the user (no ":" or "@"), ":", then the password up to the
# authority's last "@".
_USER_CHARS = re.compile(r"[^\s:/@?#\"'<>]+")
_AUTHORITY_CHARS = re.compile(r"[^\s/?#\"'<>]+")
_LONGEST_USER = 256
_LONGEST_PASSWORD = 512


def url_passwords(text: str, work: ScanWork) -> Iterator[Span]:
    """Each "://" is looked at once, and its user and authority are read once: neither holds
    a "/", so they end before the next "://"."""
    pos = 0
    while (scheme_end := text.find("://", pos)) >= 0:
        pos = scheme_end + 3
        work.steps += 1
        if scheme_end == 0 or not text[scheme_end - 1].isalnum():
            continue
        colon = work.run_end(_USER_CHARS, text, pos, pos + _LONGEST_USER)
        if not text.startswith(":", colon):
            continue
        authority_end = work.run_end(_AUTHORITY_CHARS, text, colon + 1, colon + _LONGEST_PASSWORD)
        work.steps += authority_end - pos
        at = text.rfind("@", colon + 1, authority_end)
        if at > colon + 1:
            yield colon + 1, at
            pos = at


# Names: read back from an "=" or ":" over [\w.-] (so `--password`, `spring.datasource.password`
# and `X-Api-Key` are names too), then held to the list below.
# A name means a secret when, without its separators, it ends with one of these...
_SECRET_NAME_ENDINGS = (
    *("password", "passwd", "passphrase", "secret", "token", "credentials", "credential"),
    *("apikey", "authkey", "servicekey", "accountkey", "dbkey", "databasekey", "privkey"),
    *("privatekey", "clientkey", "accesskey", "secretkey", "storagekey", "signingkey"),
    *("encryptionkey", "masterkey", "dbpass", "databasepass", "keypass"),
    *("contraseña", "contrasena", "senha"),
)
# ... or with one of these words as a word of its own: "pass" ends "bypass", "pwd" "cwd".
_SECRET_NAME_WORDS = ("pass", "pwd")
_NAME_ENDINGS = (*_SECRET_NAME_ENDINGS, *_SECRET_NAME_WORDS)
_LONGEST_ENDING = 20  # "encryption_key" and its separators
_LAST_LETTERS = frozenset("detnslyaDETNSLYA")  # the endings' last letters, "ñ" is no last
_CLOSERS = frozenset("\\\"']")
_NAME_SEPARATORS = str.maketrans("", "", "_-.")
_LONGEST_NAME = 64
# Between the name and its value: closing quotes or a bracket, the operator, spaces. "==" is a
# comparison (`password == "x"`, `password=="x"`, `password==(x)`) unless a value follows it at
# once: then the first "=" assigns a value that starts with "=" (`Password==9xY...;` in a
# connection string), a "(" included when the value runs on to a ";" (`Password==(0A;`).
_OPERATOR = re.compile(
    r"[\\\"'\]]{0,3}[ \t]{0,8}"
    r"(?P<op>:=|=>|=(?!=[\s\"'`]|=$|=\((?![^\s;]{0,100};))|:(?![:/]))"
    r"[ \t]{0,8}(?:@(?=\"))?"
)
# What `_OPERATOR` may read: closers, spaces, "==(", a value of up to 100 characters and its ";".
_OPERATOR_REACH = 3 + 8 + 3 + 100 + 1
_QUOTED = {
    '"': re.compile(r'[^"\r\n]+'),
    "'": re.compile(r"[^'\r\n]+"),
    "`": re.compile(r"[^`\r\n]+"),
    "{": re.compile(r"[^}\r\n]+"),
}
_CLOSING = {'"': '"', "'": "'", "`": "`", "{": "}"}
_ESCAPED_QUOTED = re.compile(r'[^"\\\r\n]+')  # `\"password\": \"...\"`, JSON inside a string
_UNQUOTED = re.compile(r"[^\s;,\"'`<>]+")
_NEXT_QUERY_PARAMETER = re.compile(r"&[A-Za-z_][\w.-]{0,30}=")
_QUERY_PARAMETER_REACH = 34
_LONGEST_VALUE = 1024
_PLACEHOLDER_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_PLACEHOLDER_WORDS = ("your", "xxxx", "example")
_NON_VALUES = frozenset(
    ("null", "none", "nil", "true", "false", "undefined", "anon", "anonymous", "redacted")
)
# YAML's block scalars (`password: |`) and anchors and aliases: the value is elsewhere.
_YAML_INDICATORS = frozenset("|>-+0123456789")
# A template's or a format's placeholder: `${DB_PASSWORD}`, `{{ secret }}`, `%(password)s`.
_PLACEHOLDERS = {"${": "}", "$(": ")", "{{": "}}", "%(": ")", "#{": "}", "<": ">"}
_MASK_CHARS = frozenset("*xX.•-_")
_VARIABLE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_IDENTIFIER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.")
_SHORTEST_NUMBER = 4  # `max_token: 5` is a setting; a PIN has four digits


def assigned_secrets(text: str, work: ScanWork) -> Iterator[Span]:
    """Found from their operators, "=" and ":", which prose has few of (3.6 in the benchmark's
    1 KB prompts; finding the names' words in the lower-cased text took 10 µs a prompt): the
    name before each is read back a bounded length, and a value forward up to a bounded length."""
    after = 0  # the end of the last value
    runs = _UnquotedRuns()
    for operator_at in _operators(text):
        work.steps += 1
        if operator_at < after:
            continue
        name_end = _name_end_before(text, operator_at)
        if name_end == 0 or text[name_end - 1] not in _LAST_LETTERS:
            continue  # most operators: "10:30", "CPF:"
        tail = text[max(0, name_end - _LONGEST_ENDING) : name_end].lower()
        if not tail.replace("_", "").replace("-", "").replace(".", "").endswith(_NAME_ENDINGS):
            continue  # "https:", "Note:"
        name_start = _name_start(text, name_end)
        work.steps += operator_at - name_start
        if name_start == name_end or not _means_a_secret(text[name_start:name_end]):
            continue
        operator = work.match(_OPERATOR, text, name_end, _OPERATOR_REACH)
        if operator is None:
            continue
        value = _value_at(text, operator.end(), operator.group("op"), work, runs)
        if value is not None:
            yield value
            after = value[1]


def _operators(text: str) -> Iterator[int]:
    """Where each "=" and ":" is, in order (`str.find`, a memchr: a pattern for `[=:]` took
    eight times as long)."""
    equals, colon = text.find("="), text.find(":")
    while equals >= 0 or colon >= 0:
        if colon < 0 or 0 <= equals < colon:
            yield equals
            equals = text.find("=", equals + 1)
        else:
            yield colon
            colon = text.find(":", colon + 1)


def _name_end_before(text: str, pos: int) -> int:
    """Back from an operator over spaces and closing quotes or a bracket, as `_OPERATOR` reads
    them forward."""
    floor = max(0, pos - 8)
    while pos > floor and text[pos - 1] in " \t":
        pos -= 1
    floor = max(0, pos - 3)
    while pos > floor and text[pos - 1] in _CLOSERS:
        pos -= 1
    return pos


def _name_start(text: str, pos: int) -> int:
    start, floor = pos, max(0, pos - _LONGEST_NAME)
    while start > floor and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
        start -= 1
    return start


def _means_a_secret(name: str) -> bool:
    bare = name.lower().translate(_NAME_SEPARATORS)
    if bare.endswith(_SECRET_NAME_ENDINGS):
        return True
    for word in _SECRET_NAME_WORDS:
        if bare.endswith(word):
            before = len(name) - len(word) - 1
            return (
                before < 0
                or name[before] in "_-."
                or (name[before].islower() and name[before + 1].isupper())
            )
    return False


class _UnquotedRuns:
    """Where the unquoted value at a position ends, each character read once. Operators can
    stand inside an unquoted value (`a=&AccountKey=&AccountKey=…`): the run read from one is
    known to go on past the next, so that run is not read again from each of them, which
    made the scan read up to `_LONGEST_VALUE` characters per operator."""

    __slots__ = ("known", "natural", "start")

    def __init__(self) -> None:
        self.start = self.known = -1  # every character of [start, known) is of the run
        self.natural = False  # and text[known] ends it (or the text ends there)

    def end_at(self, text: str, pos: int, work: ScanWork) -> int:
        cap = pos + _LONGEST_VALUE
        if not self.start <= pos <= self.known:
            self.start = self.known = pos
            self.natural = False
        if not self.natural and self.known < cap:
            before = self.known
            self.known = work.run_end(_UNQUOTED, text, self.known, cap)
            work.steps += self.known - before
            self.natural = self.known < cap or self.known == len(text)
        return min(self.known, cap)


def _value_at(
    text: str, pos: int, operator: str, work: ScanWork, runs: _UnquotedRuns
) -> Span | None:
    """The value that starts at `pos`, unless it is no value (a placeholder, code)."""
    first = text[pos : pos + 1]
    if first in _QUOTED:
        end = work.run_end(_QUOTED[first], text, pos + 1, pos + 1 + _LONGEST_VALUE)
        if not text.startswith(_CLOSING[first], end) or end == pos + 1:
            return None
        return _unless_no_value(text, pos + 1, end, quoted=True)
    if text.startswith('\\"', pos):
        end = work.run_end(_ESCAPED_QUOTED, text, pos + 2, pos + 2 + _LONGEST_VALUE)
        if not text.startswith('\\"', end) or end == pos + 2:
            return None
        return _unless_no_value(text, pos + 2, end, quoted=True)
    end = runs.end_at(text, pos, work)
    if end == pos:
        return None
    if operator == "=" and "&" in text[pos:end]:  # a query string: the next parameter ends it
        # ... after the value's first character: a value may itself start with "&" (`&A0=`).
        following = work.search(_NEXT_QUERY_PARAMETER, text, pos + 1, end, _QUERY_PARAMETER_REACH)
        if following is not None:
            end = following.start()
    return _unless_no_value(text, pos, end, quoted=False)


def _unless_no_value(text: str, start: int, end: int, *, quoted: bool) -> Span | None:
    value = text[start:end]
    if (
        not value.strip()
        or value.lower() in _NON_VALUES
        or _is_placeholder(value)
        or _MASK_CHARS.issuperset(value)
        or (value.isdigit() and len(value) < _SHORTEST_NUMBER)
        or (not quoted and value[0] in "|>" and _YAML_INDICATORS.issuperset(value))
    ):
        return None
    if not quoted and (_is_variable(value) or _looks_like_code(value)):
        return None
    return start, end


def _is_placeholder(value: str) -> bool:
    """A template's placeholder, an elided value (`sk-...`), or one named as placeholders are
    (`YOUR_API_KEY`, `SUA_CHAVE_AQUI`, `<your-token>`, `your_password_here`)."""
    lower = value.lower()
    return (
        any(
            value.startswith(opening) and closing in value[len(opening) :]
            for opening, closing in _PLACEHOLDERS.items()
        )
        or "..." in value
        or "…" in value
        or ("_" in value and _PLACEHOLDER_NAME_CHARS.issuperset(value))
        or any(word in lower for word in _PLACEHOLDER_WORDS)
    )


def _is_variable(value: str) -> bool:
    """`$DB_PASSWORD` or `%DB_PASSWORD%`: a shell's or Windows' variable, named as variables
    are (capitals, digits, "_"), not its value: `$0MwQDCwUw` is a password."""
    if value.startswith("%") and value.endswith("%") and len(value) > 2:
        name = value[1:-1]
    elif value.startswith("$"):
        name = value[1:]
    else:
        return False
    return bool(name) and not name[0].isdigit() and _VARIABLE_CHARS.issuperset(name)


def _looks_like_code(value: str) -> bool:
    """An unquoted name (`password=password`, `token=request.token`), or a call or index
    (`getpass()`, `os.environ["X"]`, whose run stops at the quote): letters, "_" and "." up to
    a "(" or a "[" that ends the value or whose bracket closes it; `bLCEOz(UkF3Om` is no call."""
    if not (value[0].isalpha() or value[0] == "_"):
        return False
    for index, char in enumerate(value):
        if char not in _IDENTIFIER_CHARS:
            return (
                char in "(["
                and index > 0
                and (index == len(value) - 1 or value.endswith((")", "]")))
            )
    return True


def ends_url_userinfo(text: str, at: int) -> bool:
    """Whether the "@" at `at` ends a URL's `user:password` (`postgres://u:S3cr3t!Pass_2024@db`):
    then no e-mail address goes through it, whose local part would be the password's tail."""
    scheme_end = text.rfind("://", max(0, at - _LONGEST_USER - _LONGEST_PASSWORD), at)
    if scheme_end < 0:
        return False
    userinfo = text[scheme_end + 3 : at]
    return ":" in userinfo and not any(char.isspace() or char in "/?#" for char in userinfo)
