"""The worker's own `/metrics` (Prometheus text), read from the engine and the embedder when
scraped: nothing is recorded on the generation path but two integer increments.

- `edge_worker_queue_depth`: requests admitted and waiting for a batch;
- `edge_worker_running`: requests in the batch being generated;
- `edge_worker_batch_size` (histogram): requests per batch, one bucket per size up to `max_batch`;
- `edge_worker_generated_tokens_total`: tokens generated (tokens per second:
  `rate(edge_worker_generated_tokens_total[1m])`);
- `edge_worker_embedding_batches_total`, `edge_worker_embedded_texts_total`: the embedder's runs
  and the texts they embedded.

The worker is scraped as a target of its own (its port, beside the router's): it runs as the
router's child or as a sidecar, and its queue is what the router's `edge` endpoint waits on.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from edge_worker.embedder import BatchingEmbedder
from edge_worker.engine import Engine


class WorkerMetrics(Collector):
    def __init__(self, engine: Engine, embedder: BatchingEmbedder) -> None:
        self._engine = engine
        self._embedder = embedder
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)

    def exposition(self) -> bytes:
        return generate_latest(self._registry)

    def collect(self) -> Iterator[Metric]:
        engine, embedder = self._engine, self._embedder
        yield GaugeMetricFamily(
            "edge_worker_queue_depth",
            "Requests admitted and waiting for a batch.",
            value=engine.admitted - engine.running,
        )
        yield GaugeMetricFamily(
            "edge_worker_running", "Requests in the batch being generated.", value=engine.running
        )
        sizes = dict(engine.batch_sizes)
        buckets, cumulative = [], 0
        for size in range(1, engine.max_batch + 1):
            cumulative += sizes.get(size, 0)
            buckets.append((str(float(size)), cumulative))
        buckets.append(("+Inf", sum(sizes.values())))
        yield HistogramMetricFamily(
            "edge_worker_batch_size",
            "Requests per generation batch.",
            buckets=buckets,
            sum_value=sum(size * count for size, count in sizes.items()),
        )
        yield CounterMetricFamily(
            "edge_worker_generated_tokens",
            "Tokens generated.",
            value=engine.generated_tokens,
        )
        yield CounterMetricFamily(
            "edge_worker_embedding_batches", "Runs of the embedding model.", value=embedder.batches
        )
        yield CounterMetricFamily(
            "edge_worker_embedded_texts", "Texts embedded.", value=embedder.embedded
        )
