"""Text written by others, harvested from this machine, that values are put into.

Every carrier is real text with one slot (start, end) where a value goes: a `%s` in a gettext
message, an e-mail in a Debian copyright file, an address in a config line, a string literal in
the standard library, a four-part version in git's release notes. Carriers that already
hold something that looks like a labelled kind elsewhere are dropped, so that the only values in a
snippet are the labelled ones. Files are read in sorted order, so the harvest is reproducible on
the same machine image (the README lists the sources and their licences).
"""

from __future__ import annotations

import csv
import gettext
import json
import re
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LOCALE_DIR = Path("/usr/share/locale/pt_BR/LC_MESSAGES")
DOC_DIR = Path("/usr/share/doc")
STDLIB = Path(sysconfig.get_paths()["stdlib"])
DATASETS = ROOT / "loadtest" / "datasets"
CONFIG_DIRS = (Path("/etc"), Path("/usr/share/doc"))
LOG_FILES = (Path("/var/log/dpkg.log"), Path("/var/log/alternatives.log"))

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\w.])"
)
_VERSION4 = re.compile(r"(?<![\w.])v?\d{1,3}(?:\.\d{1,5}){3}(?![\w.])")
_LOOKS_LABELLED = re.compile(
    r"@|\d{5,}|(?:\d{1,3}\.){3}\d{1,3}|BEGIN |://\S*:\S*@|[0-9a-f]{4}:[0-9a-f]{4}:"
)
_LITERAL = re.compile(r"""^(\s*[\w.\[\]]+\s*=\s*|.*\(\s*)(["'])([A-Za-z][A-Za-z ,.:_-]{2,40})\2""")


@dataclass(frozen=True)
class Carrier:
    source: str
    text: str
    start: int
    end: int

    def fill(self, value: str) -> tuple[str, int, int]:
        """The text with the slot replaced by value, and the value's offsets."""
        return (
            self.text[: self.start] + value + self.text[self.end :],
            self.start,
            self.start + len(value),
        )

    def clean(self) -> bool:
        return not _LOOKS_LABELLED.search(self.text[: self.start] + " " + self.text[self.end :])


def _catalogues() -> Iterator[tuple[Path, dict[object, object]]]:
    """Each readable pt_BR catalogue (`.mo`) with its messages, in name order."""
    for path in sorted(LOCALE_DIR.glob("*.mo")):
        try:
            with path.open("rb") as file:
                catalog = gettext.GNUTranslations(file)._catalog  # type: ignore[attr-defined]
        except (OSError, UnicodeDecodeError, gettext.error):  # type: ignore[attr-defined]
            continue
        yield path, catalog


def gettext_pairs() -> list[tuple[Carrier, Carrier]]:
    """(English msgid, Portuguese msgstr) pairs of Debian's pt_BR catalogues with one `%s` each."""
    pairs = []
    for path, catalog in _catalogues():
        for msgid, msgstr in sorted((k, v) for k, v in catalog.items() if isinstance(k, str)):
            if (
                not isinstance(msgstr, str)
                or "\n" in msgid
                or "\n" in msgstr
                or not 20 <= len(msgid) <= 160
            ):
                continue
            if msgid.count("%s") != 1 or msgstr.count("%s") != 1 or "%1$s" in msgstr:
                continue
            en = Carrier(f"gettext:{path.stem}", msgid, msgid.index("%s"), msgid.index("%s") + 2)
            pt = Carrier(f"gettext:{path.stem}", msgstr, msgstr.index("%s"), msgstr.index("%s") + 2)
            if en.clean() and pt.clean():
                pairs.append((en, pt))
    return pairs


def portuguese_sentences() -> list[tuple[str, str]]:
    """Whole sentences of the pt_BR catalogues, without placeholders: Portuguese chat-like text."""
    sentences = []
    for path, catalog in _catalogues():
        for msgstr in sorted(v for v in catalog.values() if isinstance(v, str)):
            if (
                40 <= len(msgstr) <= 200
                and "\n" not in msgstr
                and "%" not in msgstr
                and msgstr.endswith(".")
                and not _LOOKS_LABELLED.search(msgstr)
            ):
                sentences.append((f"gettext-pt_BR:{path.stem}", msgstr))
    return sentences


def english_sentences() -> list[tuple[str, str]]:
    """(source, sentence) from PAWS-Wiki and GPTCache's paraphrases (loadtest/datasets)."""
    sentences = []
    with (DATASETS / "paws_wiki_test.tsv").open(encoding="utf-8") as file:
        for row in csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE):
            sentences.append(("paws-wiki", row["sentence1"]))
    for pair in json.loads((DATASETS / "gptcache_paraphrases.json").read_text(encoding="utf-8")):
        sentences.append(("gptcache", pair["origin"]))
    return [(source, text) for source, text in sentences if not _LOOKS_LABELLED.search(text)]


def copyright_email_lines() -> list[Carrier]:
    """Lines of Debian copyright files holding one e-mail address (the slot)."""
    carriers = []
    for path in sorted(DOC_DIR.glob("*/copyright")):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            found = list(_EMAIL.finditer(line))
            if len(found) == 1 and len(line) <= 160:
                carrier = Carrier(
                    f"debian-copyright:{path.parent.name}", line, found[0].start(), found[0].end()
                )
                if carrier.clean():
                    carriers.append(carrier)
    return carriers


def _text_files(top: Path, suffixes: tuple[str, ...]) -> list[Path]:
    files = []
    for path in sorted(top.rglob("*")):
        wanted = path.suffix in suffixes or (not path.suffix and top == Path("/etc"))
        if wanted and path.is_file() and path.stat().st_size < 200_000:
            files.append(path)
    return files


def config_ip_lines() -> list[Carrier]:
    """Lines of /etc and Debian's docs holding one IPv4 address (the slot)."""
    carriers = []
    for top in CONFIG_DIRS:
        for path in _text_files(top, (".conf", ".cfg", ".ini", ".example", ".sample", ".txt", "")):
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            for line in lines:
                found = list(_IPV4.finditer(line))
                versionish = "RelNotes" in str(path) or re.search(r"(?i)version|policy|v\d", line)
                if len(found) == 1 and len(line) <= 160 and not versionish:
                    carrier = Carrier(f"config:{path}", line, found[0].start(), found[0].end())
                    if carrier.clean():
                        carriers.append(carrier)
    return carriers


def stdlib_literal_lines() -> list[Carrier]:
    """Lines of the standard library's Python source with a short string literal (the slot)."""
    carriers = []
    for path in sorted(STDLIB.glob("*.py")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _LITERAL.match(line)
            if match and len(line) <= 120:
                carrier = Carrier(f"stdlib:{path.name}", line, match.start(3), match.end(3))
                if carrier.clean():
                    carriers.append(carrier)
    return carriers


def log_lines() -> list[str]:
    """Real log lines (dpkg, alternatives): a timestamp and package versions, no personal data."""
    lines = []
    for path in LOG_FILES:
        if path.exists():
            lines.extend(
                line
                for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                if line
            )
    return lines


def version_lines() -> list[Carrier]:
    """Lines of Debian's docs (git's release notes, changelogs) with a four-part version."""
    carriers = []
    for path in sorted(DOC_DIR.glob("*/RelNotes/*.txt")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            found = list(_VERSION4.finditer(line))
            if len(found) == 1 and len(line) <= 160:
                carriers.append(
                    Carrier(
                        f"debian-doc:{path.parent.parent.name}/RelNotes",
                        line,
                        found[0].start(),
                        found[0].end(),
                    )
                )
    return carriers
