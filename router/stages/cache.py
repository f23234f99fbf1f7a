"""The cache stage: answer a repeated request at the PoP, or let it through and store its answer.

Between admission and routing (DESIGN's order). For a chat request of a tenant whose policy has
`cache.enabled`, on a node whose cache is on, the request's scope (`router.cache.scope`) is
looked up; a hit is answered here, as JSON or replayed as SSE (`router.cache.replay`), with
`x-router-served-by: cache`, `x-router-cache: hit-exact`, `x-router-cache-age` (seconds) and
`x-router-cache-entry`, the entry's id for reporting a wrong hit (`router.wrong_hits_api`): its
exact key, a hash that already holds the tenant and never the question. A miss goes on; this
stage's response half (`on_answer`) captures the upstream's answer as it passes, and its record
half (`on_done`) stores it under the tenant's `cache.ttl_s`.

The request header `x-router-cache` controls it per request: `no-store` (do not store this
answer), `no-cache` (do not answer from the cache, but store), `only-if-cached` (answer only from
the cache; 504 `cache_miss` otherwise). A request that can never be cached (`n` > 1, a temperature
above the tenant's `cache.max_temperature`, or for an alias an experiment splits, no sticky key
to choose its arm by, tools offered to the model without the tenant's `cache.tools`, or a
Responses request that continues a stored response, `previous_response_id`, or a Messages
`count_tokens` request) says
`x-router-cache: bypass`. A split alias is cached per arm.

The cache never holds a raw PII value (docs/privacy.md). A request that carries PII is keyed by
its redacted form, bound to its values where the model saw them (`allow`, `local-only`); its
answer is stored with those values as placeholders, or not at all when it holds other PII
(`router.privacy.cached_form`); a hit is restored with the values of the request it answers.

Halves: request (the lookup, answering a hit), response (captures a miss's answer as it passes),
record (stores it). State: none of its own per request beyond the context's cache fields; the
long-lived state (tiers, shared tier, indexing, counters) is in `AnswerCache`, built by the app.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools

import orjson

from router.answer import Answer, ReadyChunks
from router.cache.answer_cache import (
    SEMANTIC_MAX_CHARS,
    STATIC_PARTITION,
    AnswerCache,
    replayable,
)
from router.cache.answer_capture import AnswerCapture
from router.cache.exact import CachedAnswer
from router.cache.replay import sse_replay
from router.cache.scope import CacheScope, scope_of
from router.cache.semantic import vector_bytes
from router.cache.shared_entry import SharedEntry
from router.cache.verifier import Mode
from router.cache_request import CACHE_SLOT, CacheRequest
from router.chat_view import read_as_chat
from router.clock import Clock
from router.config.model import CacheSettings
from router.context import RequestContext
from router.embeddings import RouterEmbedder
from router.errors import CacheMiss, InvalidRequest
from router.policy.experiments import experiment_for, sticky_arm, sticky_key
from router.policy.model import TenantPolicy
from router.pricing import served_cost_usd
from router.privacy.cached_form import cacheable_answer
from router.privacy.findings import findings
from router.wire.requests import Operation

CACHE_HEADER = "x-router-cache"
ENTRY_HEADER = "x-router-cache-entry"
_DIRECTIVES = frozenset({"", "no-store", "no-cache", "only-if-cached"})


class CacheStage:
    name = "cache"
    terminal = False

    def __init__(self, cache: AnswerCache, settings: CacheSettings, clock: Clock) -> None:
        self._cache = cache
        self._clock = clock
        self._max_waiting = settings.embedder_max_waiting
        self._embedding_wait_s = settings.embedding_wait_ms / 1000
        self._default_threshold = settings.similarity_threshold
        self._semantic_default = settings.semantic_default

    async def on_request(self, ctx: RequestContext) -> Answer | None:
        policy = ctx.policy
        if not self._cache.enabled or policy is None or not policy.cache.enabled:
            return None
        if ctx.parsed.operation is not Operation.CHAT:
            return None
        directive = ctx.request.headers.get(CACHE_HEADER, "").strip().lower()
        if directive not in _DIRECTIVES:
            raise InvalidRequest(
                f"Invalid {CACHE_HEADER} header: expected no-store, no-cache or only-if-cached.",
                param=CACHE_HEADER,
            )
        alias = _cached_alias(ctx, policy)
        # A continued response means more than its own input says; a count is no answer.
        cacheable = ctx.native is None or ctx.native.cacheable
        scope = _scope(ctx, alias, policy) if alias is not None and cacheable else None
        if scope is None:
            self._verdict(ctx, "bypass")
            if directive == "only-if-cached":
                raise CacheMiss(
                    "This request is never answered from the cache "
                    "(n, temperature, tools, previous_response_id, or an experiment arm drawn "
                    "at random)."
                )
            return None
        state = CacheRequest()
        ctx.put(CACHE_SLOT, state)
        if directive != "no-cache":
            hit = self._cache.exact.get(scope.exact_key)
            if hit is not None:
                return self._answer(ctx, state, hit, "hit-exact", scope.exact_key)
        if policy.cache.semantic_embedder == "static":
            # Vectors of two embedders are never compared: the static ones have a partition of
            # their own (the exact key, and so exact hits, are the same).
            scope = dataclasses.replace(scope, partition=scope.partition + STATIC_PARTITION)
        embedder = self._cache.embedder if self._semantic_for(policy) else None
        if embedder is not None and len(scope.last_user_message) > SEMANTIC_MAX_CHARS:
            self._cache.lookups["long"] += 1
            ctx.decision.cache_lookup = "long"
            embedder = None  # neither looked up by meaning nor indexed
        if embedder is not None and scope.last_user_message:
            found = await self._by_meaning(ctx, state, scope, policy, embedder, directive)
            if found is not None:
                return found
        self._verdict(ctx, "miss")
        if directive == "only-if-cached":
            raise CacheMiss("Nothing cached answers this request.")
        if directive != "no-store":
            state.scope = scope
            state.ttl_s = float(policy.cache.ttl_s)
            # A question not embedded for the lookup is embedded after its answer is stored.
            state.embed_later = embedder is not None and bool(scope.last_user_message)
        return None

    async def _by_meaning(
        self,
        ctx: RequestContext,
        state: CacheRequest,
        scope: CacheScope,
        policy: TenantPolicy,
        embedder: RouterEmbedder,
        directive: str,
    ) -> Answer | None:
        """The semantic tier's answer, or None. Leaves the question's vector in
        `state.vector` when it was computed (to store the answer under it)."""
        question = scope.last_user_message
        # A precision target was mapped to its verifier and threshold when the policy loaded.
        target = policy.cache.semantic_target
        verifier = target.verifier if target is not None else self._cache.semantic.verifier
        static = policy.cache.semantic_embedder == "static"
        if static:
            # The static embedding is the tenant's embedder: about 0.1 ms, on the loop.
            state.vector = embedder.static_vector(question)
        if directive == "no-cache":
            return None
        if static:
            lookup = "static" if self._cache.semantic.has_partition(scope.partition) else "empty"
        else:
            lookup = self._lookup(scope.partition, question, verifier, embedder)
        if lookup == "embedded":
            # Embedded once: for the look-up now, and to store the answer under it. A look-up
            # waits `embedding_wait_ms` at most, then the request goes on as a miss.
            try:
                async with asyncio.timeout(self._embedding_wait_s):
                    (state.vector,) = await embedder.embed([question])
            except TimeoutError:
                lookup = "late"
        self._cache.lookups[lookup] += 1
        ctx.decision.cache_lookup = lookup
        if state.vector is None or lookup == "empty":
            return None
        threshold = (
            target.threshold
            if target is not None
            else policy.cache.similarity_threshold or self._default_threshold
        )
        match = self._cache.semantic.search(
            scope.partition,
            question,
            state.vector,
            threshold,
            self._cache.exact.__contains__,
            verifier=verifier,
        )
        hit = self._cache.exact.get(match.exact_key) if match is not None else None
        if match is None or hit is None:
            return None
        ctx.decision.cache_similarity = match.similarity
        ctx.decision.cache_verifier = f"{verifier}; {match.verdict.reason}"
        return self._answer(ctx, state, hit, "hit-semantic", match.exact_key)

    def _lookup(
        self, partition: str, question: str, verifier: Mode, embedder: RouterEmbedder
    ) -> str:
        """How the semantic tier looks a question up: `empty` (nothing stored in its partition),
        `prefilter` (no stored question is near enough to be a hit: a miss without the
        transformer), `busy` (the embedder has `embedder_max_waiting` questions waiting: a miss
        rather than a wait behind them) or `embedded` (embed and search; `late` when the
        embedding took longer than `embedding_wait_ms`: a miss)."""
        if not self._cache.semantic.has_partition(partition):
            return "empty"
        if not self._cache.semantic.needs_embedding(partition, question, verifier):
            return "prefilter"
        if embedder.waiting >= self._max_waiting:
            return "busy"
        return "embedded"

    def on_answer(self, ctx: RequestContext, answer: Answer) -> None:
        """A miss that may be stored: the upstream's answer is captured as it passes (with its
        placeholders, never a PII value: the privacy stage restores them after this)."""
        state = ctx.slot(CACHE_SLOT)
        if state is not None and state.scope is not None and answer.source == "upstream":
            read_as_chat(
                answer, AnswerCapture(functools.partial(_capture, state)), ctx.parsed.model
            )

    def on_done(self, ctx: RequestContext) -> None:
        """Store the complete answer of a miss (called when the request ends). A question that
        was not embedded for its lookup is embedded now, after its answer went out, in the
        embedder's background (look-ups first); past `index_backlog` such questions waiting, the
        entry stays an exact one (counted in `unindexed`)."""
        state = ctx.slot(CACHE_SLOT)
        if state is None:
            return
        scope, body = state.scope, state.answer
        if scope is not None and body is not None:
            body = cacheable_answer(body, findings(ctx).found)
        if scope is None or body is None:
            return
        now_s = self._clock.wall()
        cache = self._cache
        question, vector = scope.last_user_message, state.vector
        embed_later = vector is None and state.embed_later and cache.may_index_later()
        answer = CachedAnswer(
            body,
            ctx.usage,
            now_s,
            now_s + state.ttl_s,
            ctx.tenant,
            extra_bytes=vector_bytes(question) if vector is not None or embed_later else 0,
            cost_usd=served_cost_usd(ctx),
        )
        entry = SharedEntry(
            scope.exact_key,
            scope.partition,
            question,
            vector,
            answer,
            cache.embedder_id(scope.partition),
        )
        cache.store(entry, index_later=embed_later)

    def _semantic_for(self, policy: TenantPolicy) -> bool:
        """Whether this tenant is served by meaning: its policy's `cache.semantic`, else the
        node's `cache.semantic_default`. A tenant without it is never embedded for the cache:
        exact hits only, and a miss costs no embedding."""
        chosen = policy.cache.semantic
        return self._semantic_default if chosen is None else chosen

    def _verdict(self, ctx: RequestContext, verdict: str) -> None:
        ctx.decision.cache = verdict
        self._cache.verdicts[verdict] += 1

    def _answer(
        self, ctx: RequestContext, state: CacheRequest, hit: CachedAnswer, kind: str, key: str
    ) -> Answer:
        """A hit, as JSON or replayed as SSE. Its placeholders, when the request carried PII,
        are restored by the privacy stage's response half, as an upstream's are."""
        state.hit = hit  # admission settles the request with its usage and cost
        decision = ctx.decision
        decision.served_by = "cache"
        self._verdict(ctx, kind)
        decision.cache_age_s = max(0.0, self._clock.wall() - hit.stored_at_s)
        decision.reason = f"cache={kind}"
        headers = {ENTRY_HEADER: key}
        if not ctx.parsed.stream:
            return Answer(body=hit.body, source="cache", headers=headers)
        replay = sse_replay(orjson.loads(hit.body), ctx.parsed.include_usage)
        return Answer(chunks=ReadyChunks(replay), source="cache", headers=headers)


def _scope(ctx: RequestContext, alias: str, policy: TenantPolicy) -> CacheScope | None:
    """The scope of the request's redacted form: the cache never holds a raw PII value. Where
    the model sees the values (`allow`, `local-only`), the scope is bound to them; where a
    Messages request carries `anthropic-beta`, to its betas."""
    seen, cache = findings(ctx), policy.cache
    found = seen.found
    betas = None if ctx.native is None else ctx.native.headers.get("anthropic-beta")
    if found is None or ctx.redacted is not None:
        return scope_of(
            ctx.tenant,
            alias,
            ctx.outgoing.body,
            cache.max_temperature,
            tools_allowed=cache.tools,
            betas=betas,
        )
    return scope_of(
        ctx.tenant,
        alias,
        found.body,
        cache.max_temperature,
        found.values_digest(),
        tools_allowed=cache.tools,
        betas=betas,
    )


def _capture(state: CacheRequest, answer: bytes) -> None:
    """Keep a miss's answer for `on_done` to store, when it may be replayed."""
    if replayable(answer):
        state.answer = answer


def _cached_alias(ctx: RequestContext, policy: TenantPolicy) -> str | None:
    """The alias an answer is cached under: the requested one or, for an alias an experiment
    splits, the arm the end user's sticky key lands on, so that no arm is served another arm's
    answers. None when the arm would be drawn at random (no sticky key): never cached."""
    alias = ctx.parsed.model
    experiment = experiment_for(policy, alias)
    if experiment is None:
        return alias
    key = sticky_key(experiment, ctx.parsed.body, ctx.request.headers)
    return sticky_arm(experiment, key) if key is not None else None
