"""API keys are stored as SHA-256 hashes only.

A plain (unsalted, fast) hash is the right tool for API keys, unlike passwords: keys are long
random strings, so there is nothing to brute-force, and the router must look a key up on every
request in constant time. The hash is written as `sha256:<hex>`.
"""

from __future__ import annotations

import hashlib


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
