"""What each request of a run is: its kind (JSON or stream, of which API), its tenant, its body,
drawn in order, one request at a time, from generators seeded by the run's seed (each part its
own: `distributions.seeded_rng`), so that the same settings give the same requests.

The send loop is tuned for 1000+ requests a second on a core it shares, so bodies are built
before the run wherever they can be: a bounded pool of pre-built bodies (`POOL_SIZE` variants,
each with a prompt size and a `max_tokens` drawn from the phase's distributions, a share of them
carrying PII, rendered for each kind the phase sends), of which each request draws one. The
requests' sizes are therefore an empirical sample of `POOL_SIZE` draws of each distribution (of
fewer when the pool would pass `POOL_BYTES`), and a PII value recurs every few hundred requests.
A phase without distributions, PII, tenants or a streaming share has one body and draws nothing
(`plain`): the send loop then runs as it always has.

Two workloads are built as they are sent instead, as their text depends on what came before:
- a cache mix (`questions`): each request is the next question, a repeat or rewording asked by
  the tenant who asked its origin, with its origin's PII (a repeat is verbatim, PII included), at
  temperature 0 and without `max_tokens` (Messages, which requires it, with its origin's), as a
  cacheable request is: an answer cut at its cap ends with `length`, and a cache stores no such
  answer;
- a conversation: a turn's body holds the turns before it (`loadtest.generator.conversation`).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import yarl

from loadtest.generator.apis import APIS, Api, Message
from loadtest.generator.distributions import IntSpec, draw, seeded_rng
from loadtest.generator.pii import PiiGenerator
from loadtest.generator.questions import (
    NEW,
    QUESTION_KINDS,
    Question,
    QuestionsExhausted,
    mix_problem,
    questions,
    vendored_sources,
)
from loadtest.generator.requests import prompt_of
from loadtest.generator.settings import LoadSettings, RequestKind, api_of, streamed

POOL_SIZE: Final = 256
POOL_BYTES: Final = 256 << 20
# Sent with every cache-mix question: a request above the tenant's `max_temperature` (the
# router's default is 0) is never answered from a cache.
_CACHEABLE: Final = {"temperature": 0}


@dataclass(frozen=True, slots=True)
class KindPlan:
    """One kind a run sends: its API, URL and each tenant's headers."""

    kind: RequestKind
    api: Api
    streamed: bool
    url: yarl.URL
    headers: tuple[dict[str, str], ...]  # by tenant


@dataclass(frozen=True, slots=True)
class Drawn:
    """One request as drawn: indices into the workload's kinds and tenants, its body (None for a
    conversation's turn, built when it is sent), and what it asks."""

    kind: int
    tenant: int
    body: bytes | None
    question: int = -1  # index into QUESTION_KINDS, -1 outside a cache mix
    pii: bool = False
    user_text: str = ""  # a conversation turn's new user message
    max_tokens: int = 0


@dataclass(frozen=True, slots=True)
class _Variant:
    text: str
    max_tokens: int
    pii: bool


class Workload:
    """A run's requests, drawn in order (`draw`): built once per run, before it starts."""

    def __init__(self, settings: LoadSettings) -> None:
        self.settings = settings
        seed = settings.seed
        base = settings.base_url.rstrip("/")
        keys = [t.key for t in settings.tenants] or [settings.api_key]
        self.tenant_names: tuple[str, ...] = tuple(t.name for t in settings.tenants)
        self.kinds = tuple(
            KindPlan(
                kind,
                APIS[api_of(kind)],
                streamed(kind),
                yarl.URL(base + APIS[api_of(kind)].path),
                tuple(APIS[api_of(kind)].headers(key) for key in keys),
            )
            for kind in settings.kinds
        )
        self._kind_rng = seeded_rng(seed, "kinds")
        self._tenant_rng = seeded_rng(seed, "tenants")
        self._variant_rng = seeded_rng(seed, "variants")
        self._pii_rng = seeded_rng(seed, "pii")
        self._cumulative_weights = list(itertools.accumulate(t.weight for t in settings.tenants))
        self._pii = PiiGenerator(seeded_rng(seed, "pii-values"))
        self._plain_variants, self._pii_variants = self._variants()
        self._bodies = self._prebuilt_bodies()
        self._questions = (
            questions(vendored_sources(), settings.cache, seeded_rng(seed, "questions"))
            if settings.cache is not None
            else None
        )
        self._origins: dict[str, tuple[int, int, str]] = {}  # origin: tenant, max_tokens, PII
        self.plain = (
            len(self.kinds) == 1
            and len(keys) == 1
            and len(self._plain_variants) == 1
            and not self._pii_variants
            and settings.cache is None
            and settings.conversation is None
        )
        self._plain_drawn = Drawn(0, 0, self._bodies[0][0] if self._bodies else None)

    def check_questions_for(self, requests: int) -> None:
        """Refuses a cache mix whose schedule would run out of new questions."""
        problem = (
            None if self.settings.cache is None else mix_problem(requests, self.settings.cache)
        )
        if problem is not None:
            raise ValueError(problem)

    def draw(self) -> Drawn:
        """The next request. Raises QuestionsExhausted when a cache mix has no new question
        left."""
        if self.plain:
            return self._plain_drawn
        kind = self._draw_kind()
        if self._questions is not None:
            return self._question(kind)
        tenant = self._draw_tenant()
        pii = bool(self._pii_variants) and self._pii_rng.random() < self.settings.pii_share
        pool = self._pii_variants if pii else self._plain_variants
        variant = self._variant_rng.randrange(len(pool)) if len(pool) > 1 else 0
        if self.settings.conversation is not None:
            chosen = pool[variant]
            return Drawn(kind, tenant, None, pii=pii, user_text=chosen.text,
                         max_tokens=chosen.max_tokens)  # fmt: skip
        offset = len(self._plain_variants) if pii else 0
        return Drawn(kind, tenant, self._bodies[kind][offset + variant], pii=pii)

    def body(self, drawn: Drawn, history: Sequence[Message]) -> bytes:
        """A conversation turn's body: the turns before it, then its own user message."""
        plan = self.kinds[drawn.kind]
        messages = [*history, {"role": "user", "content": drawn.user_text}]
        return plan.api.body(self.settings.model, messages, drawn.max_tokens, plan.streamed)

    def same_conversation(self, drawn: Drawn, first: Drawn) -> Drawn:
        """A later turn, sent as its conversation's first was: the same kind and tenant."""
        return replace(drawn, kind=first.kind, tenant=first.tenant)

    def _draw_kind(self) -> int:
        share = self.settings.stream_share
        if share is None:
            return 0
        return 1 if self._kind_rng.random() < share else 0

    def _draw_tenant(self) -> int:
        weights = self._cumulative_weights
        if len(weights) < 2:
            return 0
        at = bisect.bisect_right(weights, self._tenant_rng.random() * weights[-1])
        return min(at, len(weights) - 1)

    def _question(self, kind: int) -> Drawn:
        assert self._questions is not None
        try:
            question: Question = next(self._questions)
        except (QuestionsExhausted, StopIteration):
            raise QuestionsExhausted("the data sets' new questions ran out") from None
        if question.kind == NEW:
            pii = self.settings.pii_share > 0 and self._pii_rng.random() < self.settings.pii_share
            self._origins[question.origin] = (
                self._draw_tenant(),
                draw(self.settings.max_tokens, self._variant_rng),
                " " + self._pii.text().text if pii else "",
            )
        tenant, max_tokens, pii_text = self._origins[question.origin]
        plan = self.kinds[kind]
        messages = [{"role": "user", "content": question.text + pii_text}]
        # A whole answer, uncapped where the API allows (see the module).
        cap = max_tokens if plan.api.name == "messages" else None
        body = plan.api.body(self.settings.model, messages, cap, plan.streamed, _CACHEABLE)
        return Drawn(kind, tenant, body, QUESTION_KINDS.index(question.kind), bool(pii_text))

    def _variants(self) -> tuple[list[_Variant], list[_Variant]]:
        """The pool: prompts and max_tokens drawn from the settings, then a PII share's own."""
        settings = self.settings
        varied = not isinstance(settings.prompt_bytes, int) or not isinstance(
            settings.max_tokens, int
        )
        count = POOL_SIZE if varied else 1
        plain = [self._variant(settings.prompt_bytes, settings.max_tokens) for _ in range(count)]
        pii = (
            [
                self._variant(settings.prompt_bytes, settings.max_tokens, pii=True)
                for _ in range(POOL_SIZE)
            ]
            if settings.pii_share > 0 and settings.cache is None
            else []
        )
        return _within_budget(plain, len(self.kinds)), _within_budget(pii, len(self.kinds))

    def _variant(self, size: IntSpec, max_tokens: IntSpec, pii: bool = False) -> _Variant:
        size_bytes = draw(size, self._variant_rng)
        tokens = draw(max_tokens, self._variant_rng)
        if not pii:
            return _Variant(prompt_of(size_bytes), tokens, False)
        sentences = self._pii.text().text
        filler = size_bytes - len(sentences) - 1
        text = sentences if filler <= 0 else f"{prompt_of(filler)} {sentences}"
        return _Variant(text, tokens, True)

    def _prebuilt_bodies(self) -> list[list[bytes]]:
        """Per kind, a body per variant (plain ones, then PII ones); none for workloads built
        as they are sent."""
        settings = self.settings
        if settings.cache is not None or settings.conversation is not None:
            return []
        prefill = (
            [{"role": "assistant", "content": settings.prefill}]
            if settings.prefill is not None
            else []
        )
        return [
            [
                plan.api.body(
                    settings.model,
                    [{"role": "user", "content": variant.text}, *prefill],
                    variant.max_tokens,
                    plan.streamed,
                )
                for variant in (*self._plain_variants, *self._pii_variants)
            ]
            for plan in self.kinds
        ]


def _within_budget(variants: list[_Variant], kinds: int) -> list[_Variant]:
    """The first variants whose bodies, one per kind, fit in POOL_BYTES (one at least)."""
    total = 0
    for count, variant in enumerate(variants):
        total += (len(variant.text) + 200) * kinds
        if total > POOL_BYTES and count > 0:
            return variants[:count]
    return variants
