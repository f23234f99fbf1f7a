"""The answer cache: the long-lived owner of this router's cached answers, built once by the app.

It owns the exact tier (`router.cache.exact`), the semantic index of the exact tier's live entries
(`router.cache.semantic`, told of every entry that leaves), the shared tier on Redis when the node
config has `cache.shared` (`router.cache.shared`), the questions still being embedded after their
answer was stored, and the counters the metrics read (`router.telemetry.cache_metrics`). The
cache stage (`CacheStage`) looks requests up in it and stores their answers; the shared tier, the
admin API and wrong-hit reports (`router.wrong_hits_api`) add and drop entries through it; the
app's lifespan drains it. Holding it outside the stage lets all of them reach it without a stage.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import orjson

from edge_worker.embedder import Vectors
from router.cache.exact import ExactCache
from router.cache.replay import complete_json_answer
from router.cache.semantic import SemanticIndex
from router.cache.shared import SharedCache
from router.cache.shared_entry import SharedEntry
from router.clock import Clock
from router.config.model import CacheSettings
from router.embeddings import RouterEmbedder

log = logging.getLogger("edge_router.cache")

VERDICTS = ("hit-exact", "hit-semantic", "miss", "bypass")
LOOKUPS = ("empty", "prefilter", "busy", "late", "embedded", "static", "long")
REPORTERS = ("client", "operator")
STATIC_PARTITION = "/static"  # the suffix of a partition of static vectors
# The longest question the semantic tier compares (and indexes), in characters. The embedder
# reads 256 tokens, about 1,000 characters of English, and the static embedding the first 4,096
# characters: two longer questions that differ only past them look the same to it, while the
# verifier, reading every character on the event loop, would cost 0.3 s a candidate at 440 KB.
# A longer question is served by the exact tier only.
SEMANTIC_MAX_CHARS = 4096


class AnswerCache:
    """This router's tiers of cached answers, and what is counted about them."""

    def __init__(
        self, settings: CacheSettings, clock: Clock, embedder: RouterEmbedder | None
    ) -> None:
        self.enabled = settings.enabled
        # The semantic tier's embedder, when the node has the tier and the embedder is loaded.
        self.embedder = embedder if settings.semantic else None
        self.semantic = SemanticIndex(
            graph_min_entries=settings.graph_min_entries,
            static=embedder.static_vector if embedder is not None and settings.semantic else None,
            prefilter_cut=settings.prefilter_cut,
        )
        self._index_backlog = settings.index_backlog
        self.exact = ExactCache(
            max_entries=settings.max_entries,
            max_bytes=settings.max_bytes,
            clock=clock.wall,
            on_remove=self.semantic.remove,
        )
        # The shared tier on Redis (node config `cache.shared`), set by the app when configured.
        self.shared: SharedCache | None = None
        self._indexing: set[asyncio.Task[None]] = set()  # questions embedded after their answer
        self.verdicts = dict.fromkeys(VERDICTS, 0)  # requests by verdict, for the metrics
        self.lookups = dict.fromkeys(LOOKUPS, 0)  # semantic look-ups by how they were decided
        self.unindexed = 0  # stored answers left out of the semantic index (embedder busy)
        self.wrong_hit_reports = dict.fromkeys(REPORTERS, 0)  # accepted reports, by reporter

    def may_index_later(self) -> bool:
        """Whether a stored answer whose question was not embedded for its lookup may be indexed
        once embedded: not past `index_backlog` such questions waiting (then the entry stays an
        exact one, counted in `unindexed`)."""
        if self.embedder is None:
            return False
        allowed = self.embedder.in_background < self._index_backlog
        self.unindexed += not allowed
        return allowed

    def store(self, entry: SharedEntry, *, index_later: bool) -> None:
        """Keep a served answer and share it. With `index_later`, its question is embedded now,
        in the embedder's background (look-ups first), and the entry indexed and shared once
        its vector is ready."""
        if not self._keep(entry):
            return
        if index_later and self.embedder is not None:
            pending = asyncio.get_running_loop().create_task(
                self.embedder.embed([entry.question], background=True)
            )
            task = asyncio.get_running_loop().create_task(self._index_later(entry, pending))
            self._indexing.add(task)
            task.add_done_callback(self._indexing.discard)
        elif self.shared is not None:
            self.shared.publish(entry)

    async def drain(self) -> None:
        """Wait until every stored answer whose question was still being embedded is indexed
        (at shutdown, and for tests that ask a reworded question right after an answer)."""
        while self._indexing:
            await asyncio.gather(*self._indexing, return_exceptions=True)

    async def _index_later(self, entry: SharedEntry, pending: asyncio.Task[Vectors]) -> None:
        """Index and share a stored answer once its question's embedding is ready."""
        try:
            (vector,) = await pending
        except Exception:  # the answer stays in the exact tier; only its semantic match is lost
            log.exception("cache: embedding a stored question failed")
            vector = None
        if entry.exact_key not in self.exact:
            return  # gone meanwhile (evicted, expired or purged)
        if vector is not None:
            entry = dataclasses.replace(entry, vector=vector)
            self.semantic.add(entry.partition, entry.exact_key, entry.question, vector)
        if self.shared is not None:
            self.shared.publish(entry)

    def adopt(self, entry: SharedEntry) -> None:
        """Add an entry another router stored (the shared tier's news, or its warm-up). Its
        answer is checked again: a router of an older version may have stored what this one
        never replays (a truncated answer, a refusal); and its vector is kept only if this
        router's embedder made it."""
        if not self.enabled or not replayable(entry.answer.body):
            return
        if entry.vector is not None and entry.embedder != self.embedder_id(entry.partition):
            # Another embedder's vector (another build, or none named): its answer is still an
            # exact hit here, but its vector is not comparable with this router's.
            entry = dataclasses.replace(entry, vector=None)
        self._keep(entry)

    def embedder_id(self, partition: str) -> str:
        """What makes this router's vectors in the partition: the model's or the static
        table's digest ("" without an embedder)."""
        embedder = self.embedder
        if embedder is None:
            return ""
        return embedder.static_id if partition.endswith(STATIC_PARTITION) else embedder.model_id

    def forget(self, tenant: str | None) -> int:
        """Drop a tenant's entries (every entry, without one) from this router's tiers."""
        return self.exact.purge(tenant)

    def forget_entry(self, exact_key: str, tenant: str | None = None) -> bool:
        """Drop one entry (only if it is `tenant`'s, when given) from this router's tiers, its
        vector with it; whether it was here."""
        return self.exact.remove(exact_key, tenant)

    def _keep(self, entry: SharedEntry) -> bool:
        if not self.exact.put(entry.exact_key, entry.answer):
            return False
        if (
            entry.vector is not None
            and self.embedder is not None
            and len(entry.question) <= SEMANTIC_MAX_CHARS
        ):
            # A static partition's vectors are static ones: no need to compute them again.
            static = entry.vector if entry.partition.endswith(STATIC_PARTITION) else None
            self.semantic.add(
                entry.partition, entry.exact_key, entry.question, entry.vector, static
            )
        return True


def replayable(body: bytes) -> bool:
    """Whether an answer may be replayed from the cache: a complete JSON answer."""
    try:
        return complete_json_answer(orjson.loads(body))
    except orjson.JSONDecodeError:
        return False
