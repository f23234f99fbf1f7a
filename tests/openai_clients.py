"""The official `openai` client for tests, without the cost of making one.

Each `AsyncOpenAI` builds its own HTTP client, and each of those loads the system's certificate
authorities into a new SSL context: about 40 ms per client on this machine, which was half the
time of the PII leak proofs (one client per request). The tests talk plain HTTP on loopback, so
every client here shares one SSL context; each still has its own connection pool, as before.
"""

from __future__ import annotations

import ssl
from functools import cache
from typing import Any

from openai import AsyncOpenAI, DefaultAsyncHttpxClient


@cache
def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def async_openai(base_url: str, **options: Any) -> AsyncOpenAI:
    """`AsyncOpenAI(base_url=..., **options)` with an HTTP client of its own on the shared SSL
    context (unless `options` brings its own `http_client`)."""
    options.setdefault("http_client", DefaultAsyncHttpxClient(verify=_ssl_context()))
    return AsyncOpenAI(base_url=base_url, **options)
