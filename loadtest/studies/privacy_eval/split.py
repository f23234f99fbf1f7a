"""The split rule, fixed before any tuning: a snippet is in the test part when the first byte of
the SHA-256 of its id is odd, else in the tuning part. Stdlib only, so the main environment's
tests can check the committed files against it."""

from __future__ import annotations

import hashlib

PARTS = ("tune", "test")


def part_of(snippet_id: str) -> str:
    """`test` or `tune`, from the snippet's id alone (about half each)."""
    return "test" if hashlib.sha256(snippet_id.encode()).digest()[0] & 1 else "tune"
