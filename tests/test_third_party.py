"""The vendored files (third_party/) are the ones their READMEs describe: each file's size and
SHA-256 are stated in the README of its folder, so a changed or truncated copy fails here rather
than as a puzzling schema or benchmark result."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
THIRD_PARTY = REPO / "third_party"
# The load-test suite's data sets are vendored inside its own distribution.
VENDORED = sorted(
    path
    for folder in (THIRD_PARTY, REPO / "loadtest" / "datasets")
    for path in folder.rglob("*")
    if path.is_file() and path.name != "README.md" and not path.name.startswith(".")
)


def test_the_openai_spec_is_vendored() -> None:
    assert THIRD_PARTY / "openai-openapi" / "openapi.yaml" in VENDORED


def test_the_cache_data_sets_are_vendored() -> None:
    datasets = REPO / "loadtest" / "datasets"
    assert {datasets / "gptcache_paraphrases.json", datasets / "paws_wiki_test.tsv"} <= set(
        VENDORED
    )


@pytest.mark.parametrize("path", VENDORED, ids=lambda path: str(path.relative_to(REPO)))
def test_vendored_file_has_the_size_and_sha256_its_readme_states(path: Path) -> None:
    readme = (path.parent / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    size_bytes = path.stat().st_size
    assert f"`{path.name}`" in readme, f"{path.parent / 'README.md'} does not name {path.name}"
    assert f"`{digest}`" in readme, f"{path}: sha256 {digest} is not the one its README states"
    assert f"{size_bytes:,} bytes" in readme, f"{path}: {size_bytes:,} bytes, not as its README"
