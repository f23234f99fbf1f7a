"""Secrets (kind `secret`): where in a text the values are that give access to something, by the
shapes their issuers publish.

Four detectors, most specific first; where two overlap the earlier one's value is kept:
- private keys, PEM and OpenSSH blocks (`router/privacy/private_keys.py`);
- vendor keys and tokens by their prefixes and shapes (here), and the token after "Bearer";
- keys with no prefix but a length of their own, wherever they are written: AWS secret access
  keys (40 base64 characters) and Azure storage account keys (86 and "==");
- credentials in URLs and connection strings, and values assigned to names that mean a secret
  (`router/privacy/credentials.py`).
The catalogue of vendor formats is detect-secrets 1.5.0's plugins (`detect_secrets/plugins/*.py`)
and, for formats it lacks, GitGuardian's public detector list; docs/privacy.md has the table.

Every detector starts only where a cheap scan finds its marker (a vendor prefix's rarest
character, "-----", "://", a name such as "password" in the lower-cased text), so text without
any costs a few `str.find`s and one pattern scan. Each pattern runs through `ScanWork` on one
slice at a time, and values of no longest length are followed with `run_end`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from router.privacy.credentials import assigned_secrets, url_passwords
from router.privacy.private_keys import private_keys
from router.privacy.scan_work import ScanWork, Span, byte_classes


def secret_spans(text: str, work: ScanWork) -> list[Span]:
    """Every secret in `text`, in order, none overlapping another."""
    found = list(private_keys(text, work))
    found += _vendor_keys(text, work)
    found += _bare_cloud_keys(text, work)
    if "://" in text:
        found += url_passwords(text, work)
    found += assigned_secrets(text, work)
    if len(found) < 2:
        return found
    # Keep each span where no earlier detector's span is: they came most specific first. A span
    # that runs into an earlier one keeps its own parts (a password whose unquoted value runs on
    # into a private key's first line): dropping it whole let the password out.
    owned = bytearray(len(text))
    kept = []
    for start, end in found:
        work.steps += end - start
        pos = start
        while (free := owned.find(0, pos, end)) >= 0:
            taken = owned.find(1, free, end)
            stop = end if taken < 0 else taken
            if any(ch.isalnum() for ch in text[free:stop]):  # not a lone separator
                owned[free:stop] = b"\x01" * (stop - free)
                kept.append((free, stop))
            pos = stop
    kept.sort()
    return kept


# Vendor keys: a scan for the rarest character of each vendor's prefix, where prose has few,
# rather than for the prefixes' first letters ("s", "g", "x"), which most words hold. Each branch
# ends with a group naming where the prefix starts: `_HINT_OFFSETS` characters before the hint.
_SECRET_HINT = re.compile(
    r"-(?<=sk-)(?P<sk>)"
    r"|-(?<=xox[abposr]-)(?P<xox>)"
    r"|-(?<=gl(?:dt|rt|ft)-)(?P<gl4>)"
    r"|-(?<=gl(?:pat|ptt|imt|cbt)-)(?P<gl5>)"
    r"|-(?<=glsoat-)(?P<gl6>)"
    r"|-(?<=sq0(?:csp|atp)-)(?P<sq0>)"
    r"|-(?<=pypi-)(?P<pypi>)"
    r"|-(?=us\d)(?<=[0-9a-f]{32}-)(?P<mailchimp>)"
    r"|_(?<=[rs]k_)(?P<stripe>)"
    r"|_(?<=gh[pousr]_)(?P<gh>)"
    r"|_(?<=github_)(?P<github>)"
    r"|_(?<=npm_)(?P<npm>)"
    r"|A(?=KIA|SIA|BIA|CCA|3T[A-Z0-9]|Iza|KC|P[0-9A-F]|C[0-9a-f]{32})(?P<A>)"
    r"|S(?=G\.|K[0-9a-f]{32})(?P<S>)"
    r"|E(?=AAA)(?P<E>)"
    r"|G(?=R1348941)(?P<G>)"
    r"|J(?<=eyJ)(?P<jwt>)"
    r"|\.(?<=https://hooks\.)(?=slack\.com/)(?P<slack_hook>)"
    r"|\.(?<=[\w-]{24}\.)(?=[\w-]{6}\.)(?P<discord>)"
    r"|:(?<=\d{8}:)(?=[\w-]{35})(?P<telegram>)"
    r"|=(?<=AccountKey=)(?P<azure>)"
    r"|b(?i:earer)(?P<bearer>)|B(?i:earer)(?P<Bearer>)"
)
_HINT_OFFSETS = {
    **{"sk": 2, "xox": 4, "gl4": 4, "gl5": 5, "gl6": 6, "sq0": 6, "pypi": 4, "mailchimp": 32},
    **{"stripe": 2, "gh": 3, "github": 6, "npm": 3, "A": 0, "S": 0, "E": 0, "G": 0, "jwt": 2},
    "slack_hook": 13,
}
_SECRET_HINT_REACH = 40  # twilio's look-ahead, 33 characters
# Each shape up to its shortest length; the rest of the word ([\w-]) is taken with it, since
# where a key followed by letters ends cannot be told. A JWT's three parts are followed one by
# one (`_jwt_end`), a Slack webhook's path to its end.
_SECRET_HEAD = re.compile(
    r"(?<![\w-])(?:"
    r"sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20}"  # OpenAI, Anthropic
    r"|[rs]k_(?:live|test)_[0-9A-Za-z]{20}"  # Stripe
    r"|(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[0-9A-Z]{16}"  # AWS key ids
    r"|gh[pousr]_[A-Za-z0-9]{30}|github_pat_[A-Za-z0-9_]{22}"  # GitHub
    r"|gl(?:pat|dt|rt|ft|soat|ptt|imt|cbt)-[\w-]{20}|GR1348941[\w-]{20}"  # GitLab
    r"|xox[abposr]-[A-Za-z0-9-]{10}"  # Slack
    r"|(?P<slack_hook>https://hooks\.slack\.com/services/[A-Za-z0-9_]{8})"
    r"|AIza[0-9A-Za-z_-]{35}"  # Google
    r"|(?:AC|SK)[0-9a-f]{32}"  # Twilio
    r"|SG\.[\w-]{22}\.[\w-]{20}"  # SendGrid
    r"|[0-9a-f]{32}-us\d{1,2}"  # Mailchimp
    r"|sq0(?:csp|atp)-[\w-]{22}|EAAA[\w-]{40}"  # Square
    r"|npm_[A-Za-z0-9]{36}"  # npm
    r"|pypi-AgE[\w-]{50}"  # PyPI
    r"|[MNO][\w-]{23,25}\.[\w-]{6}\.[\w-]{27}"  # Discord bot tokens
    r"|\d{8,10}:[\w-]{35}"  # Telegram bot tokens
    r"|(?P<artifactory>AKC[A-Za-z0-9]{10}|AP[0-9A-F][A-Za-z0-9]{8})"
    r"|(?P<jwt>eyJ)"
    r")"
)
_SECRET_HEAD_REACH = 64  # a Discord token's 61 characters
_WORD_CHARS = re.compile(r"[\w-]+")
_HOOK_PATH_CHARS = re.compile(r"[\w/-]+")
_JWT_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_JWT_SHORTEST_PART = 8
# Artifactory's "AP" + a hex digit starts words too ("APIs", "APACHE"): a key has 20 characters
# at least, with digits and lower-case letters.
_ARTIFACTORY_SHORTEST = 20
_AZURE_KEY_CHARS = re.compile(r"[A-Za-z0-9+/=]+")
_AZURE_KEY_SHORTEST = 40  # 88 characters as Azure writes them
_DISCORD_FIRST_PART = (24, 25, 26)
_TELEGRAM_DIGITS = (8, 9, 10)
# After "bearer": whitespace, then the token, `[A-Za-z0-9._~+/-]{20,}=*[\w-]*`.
_WHITESPACE = re.compile(r"\s+")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~+/-]+")
_TOKEN_SHORTEST = 20
_PADDING = re.compile(r"=+")


def _vendor_keys(text: str, work: ScanWork) -> Iterator[Span]:
    """Each hint is tried once, and the shape matched from it stops at the end of its word
    (a JWT's, at the end of its third part) or after a bounded look."""
    pos = 0
    while (hint := work.search(_SECRET_HINT, text, pos, len(text), _SECRET_HINT_REACH)) is not None:
        work.steps += 1
        span = _secret_at(text, hint, work)
        if span is None or span[1] <= hint.start():
            pos = hint.start() + 1
        else:
            yield span
            pos = span[1]


def _secret_at(text: str, hint: re.Match[str], work: ScanWork) -> Span | None:
    prefix = hint.lastgroup or ""  # every branch of the hint ends with its prefix's group
    if prefix in ("bearer", "Bearer"):
        return _bearer_token(text, hint.end(), work)
    if prefix == "azure":
        end = work.run_end(_AZURE_KEY_CHARS, text, hint.end())
        return (hint.end(), end) if end - hint.end() >= _AZURE_KEY_SHORTEST else None
    if prefix == "discord":
        starts = [hint.start() - chars for chars in _DISCORD_FIRST_PART]
    elif prefix == "telegram":
        starts = [hint.start() - digits for digits in _TELEGRAM_DIGITS]
    else:
        starts = [hint.start() - _HINT_OFFSETS[prefix]]
    for start in starts:
        if start >= 0 and (span := _shape_at(text, start, work)) is not None:
            return span
    return None


def _shape_at(text: str, start: int, work: ScanWork) -> Span | None:
    head = work.match(_SECRET_HEAD, text, start, _SECRET_HEAD_REACH)
    if head is None:
        return None
    if head.lastgroup == "jwt":
        end = _jwt_end(text, head.end(), work)
        return None if end is None else (start, work.run_end(_WORD_CHARS, text, end))
    if head.lastgroup == "slack_hook":
        return start, work.run_end(_HOOK_PATH_CHARS, text, head.end())
    end = work.run_end(_WORD_CHARS, text, head.end())
    if head.lastgroup == "artifactory" and (
        end - start < _ARTIFACTORY_SHORTEST or not _mixed(text[start : start + _SECRET_HEAD_REACH])
    ):
        return None
    return start, end


def _jwt_end(text: str, pos: int, work: ScanWork) -> int | None:
    r"""Where `[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}` ends, from `pos`
    (after the first "eyJ"): each part takes all of its alphabet, 8 characters at least, and
    only a "." can follow it."""
    for separator in (".eyJ", ".", ""):
        end = work.run_end(_JWT_CHARS, text, pos)
        if end - pos < _JWT_SHORTEST_PART or not text.startswith(separator, end):
            return None
        pos = end + len(separator)
    return pos


def _bearer_token(text: str, pos: int, work: ScanWork) -> Span | None:
    """The token after "bearer" and whitespace: each part takes all of its alphabet."""
    start = work.run_end(_WHITESPACE, text, pos)
    if start == pos:
        return None
    end = work.run_end(_TOKEN_CHARS, text, start)
    if end - start < _TOKEN_SHORTEST:
        return None
    return start, work.run_end(_WORD_CHARS, text, work.run_end(_PADDING, text, end))


def _mixed(head: str) -> bool:
    return any(char.islower() for char in head) and any(char.isdigit() for char in head)


# AWS secret access keys and Azure storage account keys have no prefix, only their length and
# alphabet: 40 base64 characters (30 random bytes), and 86 with "==" (64 bytes). A run of base64
# of one of those lengths with capitals, small letters and digits is taken for one; a git SHA-1
# (40 hex digits, one case) is not. Such a run is looked for from its digits, "+" and "/" (a
# random 40-character key lacks all three once in 5,000): one with 20 characters of the run after
# it or before it, which any of a run of 40 has. Numbers in prose fail at once.
_BARE_KEY_HINT = re.compile(r"[0-9+/](?:(?=[A-Za-z0-9+/]{20})|(?<=[A-Za-z0-9+/]{21}))")
_BARE_KEY_HINT_REACH = 21
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]+")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_BASE64_CLASS = byte_classes(x="".join(sorted(_BASE64_CHARS)))
_AWS_SECRET_LENGTH = 40
_AZURE_KEY_LENGTH = 86  # and "=="


def _bare_cloud_keys(text: str, work: ScanWork) -> Iterator[Span]:
    """Each run of base64 is read once: the next hint is looked for after its end. A key is
    40 base64 characters at least: most texts have no such run, told by `lacks` in 2 µs, while
    the hint is tried at each digit (11 µs for the benchmark's 1 KB prompts)."""
    if work.lacks(text, _BASE64_CLASS, b"x" * _AWS_SECRET_LENGTH):
        return
    pos = 0
    while (
        hint := work.search(_BARE_KEY_HINT, text, pos, len(text), _BARE_KEY_HINT_REACH)
    ) is not None:
        start, floor = hint.start(), max(pos, hint.start() - _AZURE_KEY_LENGTH - 1)
        while start > floor and text[start - 1] in _BASE64_CHARS:
            start -= 1
        end = work.run_end(_BASE64_RUN, text, hint.start())
        work.steps += end - start
        pos = end
        if start > 0 and text[start - 1] in "=_-":
            continue
        length = end - start
        if length == _AZURE_KEY_LENGTH and text.startswith("==", end):
            end += 2
        elif length != _AWS_SECRET_LENGTH or text.startswith("=", end):
            continue
        if end < len(text) and (text[end].isalnum() or text[end] in "_-"):
            continue
        if _mixed(text[start:end]) and any(char.isupper() for char in text[start:end]):
            yield start, end
