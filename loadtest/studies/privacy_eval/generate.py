"""Writes the evaluation set: labelled snippets and hard negatives, split into tune and test.

    .venv-eval/bin/python -m loadtest.studies.privacy_eval.generate \\
        [--out loadtest/studies/privacy_eval/data]

Deterministic: one seed drives Faker, the key generators and every choice; the carriers are read
from this machine's files in sorted order (README: sources, counts, the split rule).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path

from loadtest.studies.privacy_eval import carriers
from loadtest.studies.privacy_eval.layouts import (
    ENV_NAMES,
    FIELD_NAMES,
    SECRET_NAMES,
    Draft,
    assignment,
    connection_string,
    framing,
    glue_word,
    json_escaped,
    yaml_pem,
)
from loadtest.studies.privacy_eval.negatives import NEGATIVE_FRAMINGS, NegativeValues
from loadtest.studies.privacy_eval.pii_values import PiiValues
from loadtest.studies.privacy_eval.secret_values import VENDOR_KEYS, private_key_pem
from loadtest.studies.privacy_eval.split import part_of

SEED = 20261206
DATA_DIR = Path(__file__).resolve().parent / "data"
PII_PLAN = {
    "email": 400,
    "phone": 400,
    "card": 380,
    "iban": 360,
    "cpf": 360,
    "cnpj": 340,
    "ssn": 420,
    "ip": 360,
}
# Snippets per kind. About half land in the test part: some 125 values of each vendor key there,
# so that a single miss shows (issue 14 asks recall >= 0.995 per secret kind).
SECRET_PLAN = {**dict.fromkeys(VENDOR_KEYS, 250), "private_key": 300, "password": 600}
NEGATIVES_PER_KIND = 135
PT_SHARE = {"cpf": 0.75, "cnpj": 0.75, "ssn": 0.2}
# Words a gettext message should hold to carry a kind (any message carries the others).
MESSAGE_HINTS = {
    "email": ("mail", "address", "user", "endereço", "usuário"),
    "ip": ("host", "address", "server", "connect", "servidor"),
    "secret": ("key", "password", "token", "passphrase", "credential", "secret", "certificate"),
}


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pii = PiiValues(seed, self.rng)
        self.negative_values = NegativeValues(self.pii.fakes["en_US"], self.rng)
        self.pairs = carriers.gettext_pairs()
        self.pairs_by_hint = {
            hint: [p for p in self.pairs if any(w in p[0].text.lower() for w in words)]
            for hint, words in MESSAGE_HINTS.items()
        }
        self.en_sentences = carriers.english_sentences()
        self.pt_sentences = carriers.portuguese_sentences()
        self.copyright = carriers.copyright_email_lines()
        self.config_ip = carriers.config_ip_lines()
        self.code_lines = carriers.stdlib_literal_lines()
        self.log_lines = carriers.log_lines()
        self.version_lines = carriers.version_lines()
        self.counters: Counter[str] = Counter()

    # -- shared pieces -------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        self.counters[prefix] += 1
        return f"{prefix}-{self.counters[prefix]:05d}"

    def sentence(self, lang: str) -> tuple[str, str]:
        return self.rng.choice(self.pt_sentences if lang == "pt" else self.en_sentences)

    def message(self, lang: str, hint: str | None) -> carriers.Carrier:
        pairs = self.pairs_by_hint.get(hint or "", []) or self.pairs
        en, pt = self.rng.choice(pairs)
        return pt if lang == "pt" else en

    def put_in_carrier(
        self, draft: Draft, carrier: carriers.Carrier, label: str, value: str, kind: str
    ) -> None:
        draft.text(carrier.text[: carrier.start] + label).value(value, kind).text(
            carrier.text[carrier.end :]
        )

    # -- personal values -----------------------------------------------------------------------

    def pii_snippet(self, kind: str, lang: str) -> dict[str, object]:
        label, value = self.pii.make(kind, lang)
        draft, layouts = (
            Draft(),
            ["gettext", "gettext", "chat", "chat", "json", "markdown", "code", "glued", "log"],
        )
        if kind == "email":
            layouts += ["copyright", "copyright"]
        if kind == "ip":
            layouts += ["config"]
        layout = self.rng.choice(layouts)
        if layout in ("code", "log", "copyright", "config"):
            lang = "en"
            label, value = self.pii.make(kind, lang)
        if layout == "config":  # the carrier's slot held an IPv4 address
            value = self.pii.fakes["en_US"].ipv4()
        if layout == "gettext":
            carrier = self.message(lang, kind if kind in MESSAGE_HINTS else None)
            self.put_in_carrier(draft, carrier, label, value, kind)
            source = carrier.source
        elif layout == "chat":
            source, sentence = self.sentence(lang)
            phrase = framing(kind, lang, self.rng)
            draft.text(f"{sentence} {phrase[:1].upper() + phrase[1:]}{label}").value(
                value, kind
            ).text(self.rng.choice((".", "", " .", "!")))
        elif layout in ("json", "markdown"):
            source, sentence = self.sentence(lang)
            other = self.rng.choice([k for k in PII_PLAN if k != kind])
            other_label, other_value = self.pii.make(other, lang)
            rows = [(kind, label, value), (other, other_label, other_value)]
            self.rng.shuffle(rows)
            draft.text(sentence + "\n")
            if layout == "json":
                draft.text("{")
                for index, (row_kind, row_label, row_value) in enumerate(rows):
                    name = self.rng.choice(FIELD_NAMES[row_kind])
                    draft.text(("" if index == 0 else ", ") + f'"{name}": "{row_label}')
                    draft.value(json_escaped(row_value, self.rng), row_kind).text('"')
                draft.text("}")
            else:
                draft.text(
                    "| campo | valor |\n|---|---|\n"
                    if lang == "pt"
                    else "| field | value |\n|---|---|\n"
                )
                for row_kind, row_label, row_value in rows:
                    name = self.rng.choice(FIELD_NAMES[row_kind])
                    draft.text(f"| {name} | {row_label}").value(row_value, row_kind).text(" |\n")
            source = f"{source}+{layout}"
        elif layout == "code":
            carrier = self.rng.choice(self.code_lines)
            self.put_in_carrier(draft, carrier, label, value, kind)
            source = carrier.source
        elif layout == "glued":
            source, sentence = self.sentence(lang)
            draft.text(f"{sentence} {glue_word(sentence, self.rng)}{label}").value(value, kind)
            draft.text(glue_word(sentence, self.rng) + " .")
            source = f"{source}+glued"
        elif layout == "log":
            line = self.rng.choice(self.log_lines)
            carrier = self.message("en", kind if kind in MESSAGE_HINTS else None)
            draft.text(line[:20])
            self.put_in_carrier(draft, carrier, label, value, kind)
            source = f"log:dpkg+{carrier.source}"
        else:
            carrier = self.rng.choice(self.copyright if layout == "copyright" else self.config_ip)
            self.put_in_carrier(draft, carrier, label, value, kind)
            source = carrier.source
        return self._record(self._id(f"{kind}-{lang}"), lang, source, draft)

    # -- secrets -------------------------------------------------------------------------------

    def vendor_key_snippet(self, kind: str, lang: str) -> dict[str, object]:
        value = VENDOR_KEYS[kind](self.rng)
        draft = Draft()
        layout = self.rng.choice(
            ("assignment", "assignment", "chat", "gettext", "code", "header", "json")
        )
        source, sentence = self.sentence(lang)
        if kind == "npm_token" and self.rng.random() < 0.5:
            layout = "npmrc"
        if kind == "azure_storage_key" and self.rng.random() < 0.6:
            layout = "azure"
        if layout == "assignment":
            draft.text(sentence + "\n```\n")
            assignment(draft, self.rng, self.rng.choice(ENV_NAMES[kind]), value, kind)
            draft.text("\n```")
            source += "+config"
        elif layout == "chat":
            phrase = framing("secret", lang, self.rng)
            draft.text(f"{sentence} {phrase[:1].upper() + phrase[1:]}").value(value, kind)
        elif layout == "gettext":
            carrier = self.message(lang, "secret")
            self.put_in_carrier(draft, carrier, "", value, kind)
            source = carrier.source
        elif layout == "code":
            carrier = self.rng.choice(self.code_lines)
            self.put_in_carrier(draft, carrier, "", value, kind)
            source, lang = carrier.source, "en"
        elif layout == "header":
            draft.text(f'{sentence}\ncurl -H "Authorization: Bearer ').value(value, kind)
            draft.text('" https://api.example.com/v1/items')
            source += "+curl"
        elif layout == "json":
            name = self.rng.choice(("api_key", "token", "secret"))
            draft.text(f'{sentence}\n{{"name": "prod", "{name}": "')
            draft.value(json_escaped(value, self.rng), kind).text('"}')
            source += "+json"
        elif layout == "npmrc":
            draft.text(f"{sentence}\n//registry.npmjs.org/:_authToken=").value(value, kind)
            source += "+npmrc"
        else:
            account = self.pii.fakes["en_US"].user_name().replace("_", "").replace(".", "")[:20]
            draft.text(
                f"{sentence}\nDefaultEndpointsProtocol=https;AccountName={account};AccountKey="
            )
            draft.value(value, kind).text(";EndpointSuffix=core.windows.net")
            source += "+azure"
        return self._record(self._id(f"{kind}-{lang}"), lang, source, draft)

    def private_key_snippet(self, lang: str) -> dict[str, object]:
        pem = private_key_pem(self.rng)
        draft = Draft()
        source, sentence = self.sentence(lang)
        layout = self.rng.randrange(4)
        if layout == 0:
            draft.text(sentence + "\n").value(pem, "private_key")
        elif layout == 1:
            draft.text(sentence + "\n```yaml\n")
            yaml_pem(draft, self.rng, pem)
            draft.text("\n```")
            source += "+yaml"
        elif layout == 2:
            draft.text(f'{sentence}\n{{"type": "service_account", "private_key": "')
            draft.value(json_escaped(pem + "\n", self.rng), "private_key").text('"}')
            source += "+json"
        else:
            draft.text(f"{sentence}\n```\n$ cat ~/.ssh/id_key\n").value(pem, "private_key").text(
                "\n```"
            )
            source += "+code"
        return self._record(self._id(f"private_key-{lang}"), lang, source, draft)

    def password_snippet(self, lang: str) -> dict[str, object]:
        fake = self.pii.fake(lang)
        draft = Draft()
        source, sentence = self.sentence(lang)
        draft.text(sentence + self.rng.choice(("\n", " ", "\n```\n")))
        if self.rng.random() < 0.6:
            user, host = fake.user_name(), fake.hostname()
            connection_string(draft, self.rng, user, host, fake.word(), self.pii.url_password(lang))
            source += "+connection-string"
        else:
            password = self.pii.password(lang)[1]
            assignment(draft, self.rng, self.rng.choice(SECRET_NAMES), password, "password")
            source += "+config"
        return self._record(self._id(f"password-{lang}"), lang, source, draft)

    # -- negatives -----------------------------------------------------------------------------

    def negative_snippet(self, negative_kind: str, lang: str) -> dict[str, object]:
        draft = Draft()
        layout = self.rng.choice(("gettext", "chat", "chat", "code", "real"))
        if layout == "real" and negative_kind == "version4":
            carrier = self.rng.choice(self.version_lines)
            draft.text(carrier.text)
            source, lang = carrier.source, "en"
        elif layout == "real" and negative_kind in ("version", "timestamp"):
            draft.text(self.rng.choice(self.log_lines))
            source, lang = "log:dpkg", "en"
        elif layout == "gettext":
            carrier = self.message(lang, None)
            draft.text(carrier.fill(self.negative_values.make(negative_kind))[0])
            source = carrier.source
        elif layout == "code":
            carrier = self.rng.choice(self.code_lines)
            draft.text(carrier.fill(self.negative_values.make(negative_kind))[0])
            source, lang = carrier.source, "en"
        else:
            source, sentence = self.sentence(lang)
            phrase = self.rng.choice(NEGATIVE_FRAMINGS[negative_kind][lang == "pt"])
            value = self.negative_values.make(negative_kind)
            draft.text(f"{sentence} {phrase[:1].upper() + phrase[1:]}{value}.")
        record = self._record(self._id(f"neg-{negative_kind}-{lang}"), lang, source, draft)
        record["negative_kind"] = negative_kind
        return record

    def _record(self, snippet_id: str, lang: str, source: str, draft: Draft) -> dict[str, object]:
        text, spans = draft.done()
        for span in spans:
            assert text[span["start"] : span["end"]] == span["value"], snippet_id  # type: ignore[misc]
        return {"id": snippet_id, "lang": lang, "source": source, "text": text, "spans": spans}

    def all_snippets(self) -> list[dict[str, object]]:
        snippets = []
        for kind, count in PII_PLAN.items():
            for _ in range(count):
                lang = "pt" if self.rng.random() < PT_SHARE.get(kind, 0.5) else "en"
                snippets.append(self.pii_snippet(kind, lang))
        for kind, count in SECRET_PLAN.items():
            for _ in range(count):
                lang = "pt" if self.rng.random() < 0.4 else "en"
                if kind == "private_key":
                    snippets.append(self.private_key_snippet(lang))
                elif kind == "password":
                    snippets.append(self.password_snippet(lang))
                else:
                    snippets.append(self.vendor_key_snippet(kind, lang))
        for negative_kind in NEGATIVE_FRAMINGS:
            for _ in range(NEGATIVES_PER_KIND):
                snippets.append(
                    self.negative_snippet(negative_kind, "pt" if self.rng.random() < 0.5 else "en")
                )
        return snippets


def write_parts(snippets: list[dict[str, object]], out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    files = {part: (out / f"{part}.jsonl").open("w", encoding="utf-8") for part in ("tune", "test")}
    counts: Counter[str] = Counter()
    try:
        for snippet in snippets:
            part = part_of(str(snippet["id"]))
            files[part].write(json.dumps(snippet, ensure_ascii=False) + "\n")
            counts[part] += 1
    finally:
        for file in files.values():
            file.close()
    return dict(counts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    started = time.perf_counter()
    snippets = Generator(args.seed).all_snippets()
    counts = write_parts(snippets, args.out)
    spans = Counter(
        (str(s["kind"]), str(snippet["lang"])) for snippet in snippets for s in snippet["spans"]
    )  # type: ignore[attr-defined]
    negatives = sum(1 for snippet in snippets if "negative_kind" in snippet)
    positives = len(snippets) - negatives
    print(f"{len(snippets)} snippets ({positives} positive, {negatives} negative), parts {counts}")
    print(f"{sum(spans.values())} labelled values: {dict(sorted(spans.items()))}")
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
