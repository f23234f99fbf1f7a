"""Microsoft Presidio's analyzer as a reference detector, with its pattern recognizers only.

presidio-analyzer depends on spaCy but needs a spaCy model only for its NLP engine (names,
places, and the context words that raise a pattern's score). `EmptyNlpEngine` returns no NLP
artifacts, so no model is downloaded and only the predefined pattern recognizers run, with their
own validators (Luhn for cards, mod-97 for IBANs, phonenumbers for phones). Presidio has no
Portuguese recognizers, so its English ones scan the Portuguese snippets too (the patterns do not
depend on the language). Results are every finding of the requested entities, at Presidio's
default score threshold (0: a low-score pattern such as a bare nine-digit SSN counts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine


class EmptyNlpEngine(NlpEngine):  # type: ignore[misc]
    """An NLP engine that finds nothing: no tokens, lemmas or named entities."""

    def load(self) -> None:
        return None

    def is_loaded(self) -> bool:
        return True

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return NlpArtifacts(
            entities=[], tokens=[], tokens_indices=[], lemmas=[], nlp_engine=self, language=language
        )

    def process_batch(
        self,
        texts: Iterable[str],
        language: str,
        batch_size: int = 1,
        n_process: int = 1,
        **kwargs: Any,
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        return False

    def is_punct(self, word: str, language: str) -> bool:
        return False

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return ["en"]


def presidio_detector(entities: list[str]) -> Callable[[str], list[tuple[str, int, int]]]:
    """detect(text) -> [(entity type, start, end)] for the given Presidio entity types."""
    # tldextract (the e-mail and URL validators) tries to fetch the public suffix list, fails
    # without a network and falls back to the snapshot it ships: keep that failure off the output.
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    engine = EmptyNlpEngine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])

    def detect(text: str) -> list[tuple[str, int, int]]:
        results = analyzer.analyze(text=text, language="en", entities=entities)
        return [(r.entity_type, r.start, r.end) for r in results]

    return detect
