"""The sentence-pair datasets the cache benchmarks read, vendored with their provenance and
licences in loadtest/datasets/ (its README says where each comes from)."""

from __future__ import annotations

from typing import Final

from loadtest.harness.proxy_settings import REPO_ROOT

# 999 {"origin", "similar"} pairs that mean the same (GPTCache's benchmark data, MIT).
GPTCACHE_PARAPHRASES: Final = REPO_ROOT / "loadtest" / "datasets" / "gptcache_paraphrases.json"
# PAWS-Wiki's labelled test split: id, sentence1, sentence2, label; 8,000 adversarial pairs.
PAWS_WIKI_TEST: Final = REPO_ROOT / "loadtest" / "datasets" / "paws_wiki_test.tsv"
