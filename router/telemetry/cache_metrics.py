"""The cache's metrics (OpenTelemetry, scraped at `GET /metrics`), with no tenant in any label.

- `router.cache.lookups` {result}: requests of cache-enabled tenants by verdict, `hit-exact`,
  `hit-semantic`, `miss` or `bypass` (hit rate = hits / all);
- `router.cache.wrong_hit_reports` {reporter}: reported wrong hits whose entry was found and
  purged, by `client` (the tenant's own key) or `operator` (the admin token);
- `router.cache.semantic.lookups` {lookup}: semantic look-ups by how they were decided, `empty`,
  `prefilter`, `busy`, `late`, `embedded`, `static` (the tenant's static embedder) or `long`
  (a question too long to compare by meaning);
  `router.cache.semantic.unindexed`: stored answers left out of the semantic index because the
  embedder was busy;
- `router.cache.semantic.verifier` {decision}: the verifier's decisions on the candidates it
  checked, `agree` or why it refused (`numbers`, `names`, `content`, `order`, ...);
- `router.cache.entries`, `router.cache.bytes`: what the exact tier holds (bytes include the
  semantic index's vectors); `router.cache.semantic.vectors`: what the index holds;
- with the shared tier: `router.cache.shared.entries` {direction}: entries `published` to Redis,
  `received` from other routers, `warmed` at start-up, `dropped` (not written: Redis away or the
  queue full); `router.cache.shared.degraded`: 1 while Redis is unreachable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Observation

from router.cache.answer_cache import VERDICTS, AnswerCache
from router.telemetry.metrics import Metrics


def cache_instruments(metrics: Metrics, cache: AnswerCache) -> None:
    """Register the cache's instruments, all read from `cache` at each scrape: the request path
    only adds to plain integers (an OpenTelemetry `Counter.add` was 8% of an exact hit's CPU)."""
    meter = metrics.meter

    def gauge(name: str, description: str, read: Callable[[], float]) -> None:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            yield Observation(read())

        meter.create_observable_gauge(name, callbacks=[observe], description=description)

    gauge("router.cache.entries", "Answers held by the exact tier.", lambda: len(cache.exact))
    gauge("router.cache.bytes", "Bytes held by the cache, vectors included.",
          lambda: cache.exact.size_bytes)  # fmt: skip
    gauge("router.cache.semantic.vectors", "Vectors held by the semantic index.",
          lambda: len(cache.semantic))  # fmt: skip

    def shared_entries(_options: CallbackOptions) -> Iterable[Observation]:
        shared = cache.shared
        if shared is not None:
            for direction in ("published", "received", "warmed", "dropped"):
                yield Observation(getattr(shared, direction), {"direction": direction})

    def shared_degraded(_options: CallbackOptions) -> Iterable[Observation]:
        if cache.shared is not None:
            yield Observation(int(cache.shared.degraded))

    meter.create_observable_counter(
        "router.cache.shared.entries",
        callbacks=[shared_entries],
        description="Entries of the shared tier by direction: published, received, warmed, "
        "dropped.",
    )
    meter.create_observable_gauge(
        "router.cache.shared.degraded",
        callbacks=[shared_degraded],
        description="1 while the shared cache's Redis is unreachable.",
    )

    def lookups(_options: CallbackOptions) -> Iterable[Observation]:
        for verdict in VERDICTS:
            yield Observation(cache.verdicts[verdict], {"result": verdict})

    def wrong_hit_reports(_options: CallbackOptions) -> Iterable[Observation]:
        for reporter, count in cache.wrong_hit_reports.items():
            yield Observation(count, {"reporter": reporter})

    meter.create_observable_counter(
        "router.cache.wrong_hit_reports",
        callbacks=[wrong_hit_reports],
        description="Reported wrong hits whose entry was purged, by reporter: client, operator.",
    )

    def semantic_lookups(_options: CallbackOptions) -> Iterable[Observation]:
        for lookup, count in cache.lookups.items():
            yield Observation(count, {"lookup": lookup})

    meter.create_observable_counter(
        "router.cache.semantic.lookups",
        callbacks=[semantic_lookups],
        description="Semantic look-ups by how they were decided: empty (nothing stored in the "
        "partition), prefilter (a miss without the transformer), busy (the embedder past its "
        "queue: a miss rather than a wait), late (the embedding outlasted "
        "cache.embedding_wait_ms: a miss), embedded, static (searched with the static "
        "embedding, the tenant's semantic_embedder), long (too long to compare by meaning).",
    )

    def verifier_decisions(_options: CallbackOptions) -> Iterable[Observation]:
        for decision, count in list(cache.semantic.verifier_decisions.items()):
            yield Observation(count, {"decision": decision})

    meter.create_observable_counter(
        "router.cache.semantic.verifier",
        callbacks=[verifier_decisions],
        description="The verifier's decisions on the semantic candidates it checked: agree, or "
        "the reason it refused (numbers, names, content, order, ...).",
    )

    def unindexed(_options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(cache.unindexed)

    meter.create_observable_counter(
        "router.cache.semantic.unindexed",
        callbacks=[unindexed],
        description="Stored answers left out of the semantic index because the embedder was busy.",
    )
    meter.create_observable_counter(
        "router.cache.lookups",
        callbacks=[lookups],
        description="Requests of cache-enabled tenants by verdict: hit-exact, hit-semantic, "
        "miss, bypass.",
    )
