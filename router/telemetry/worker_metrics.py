"""`/metrics` for a node of `edge-router serve --workers N`: every worker's series in one answer.

Prometheus scrapes the node's port and reaches whichever worker accepts the connection, which
alone knows its own counts. So that worker asks its siblings (`router.pool_membership`) and
answers with all of them, each sample labelled `worker="<i>"`, as if each worker were scraped as
a target of its own: sums over the label (every panel and alert of deploy/ sums or takes a
quantile over `le`) give the node, and per-endpoint gauges stay per worker, which is what they are
(each worker keeps its own latency estimators and health). `router_pool_workers` says how many
workers there are and how many answered this scrape; a restarting worker's series are missing
from that one scrape, and Prometheus' `rate()` treats the return of its counters as it treats any
target's restart.

Parsing and writing the text takes milliseconds for a few hundred series, so it runs in a thread,
off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

WORKER_LABEL = "worker"


async def merged_exposition(answers: Sequence[tuple[int, bytes | None]], workers: int) -> bytes:
    """`answers`: (worker number, its exposition, or None when it did not answer)."""
    return await asyncio.to_thread(_merge, answers, workers)


def _merge(answers: Sequence[tuple[int, bytes | None]], workers: int) -> bytes:
    families: dict[str, Metric] = {}
    answered = 0
    for index, body in sorted(answers, key=lambda answer: answer[0]):
        if body is None:
            continue
        answered += 1
        for family in text_string_to_metric_families(body.decode("utf-8")):
            merged = families.get(family.name)
            if merged is None:
                merged = Metric(family.name, family.documentation, family.type, family.unit)
                families[family.name] = merged
            for sample in family.samples:
                labels = {**sample.labels, WORKER_LABEL: str(index)}
                merged.samples.append(sample._replace(labels=labels))
    pool = GaugeMetricFamily(
        "router_pool_workers",
        "Worker processes of this node (serve --workers), and how many answered this scrape.",
        labels=["state"],
    )
    pool.add_metric(["configured"], workers)
    pool.add_metric(["answered"], answered)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families([*families.values(), pool]))
    return generate_latest(registry)


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)
