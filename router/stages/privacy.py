"""Privacy: the tags a request's data requires, and what becomes of a request that carries PII.

Between admission and the cache (DESIGN's order), so that the cache keys, stores and matches
only what the policy lets through. The required tags are the tenant's `privacy.required_tags`
plus those the request adds in `x-router-privacy-tags` (comma-separated; a request can never
remove the tenant's). Then every text of the body, object keys included, is scanned for PII
(`router.privacy.request_redaction`), and so is every text of the request in the API it arrived in
when that is Responses or Messages (`router.wire.native`: what a native endpoint gets), for node
keys too, and the tenant's `privacy.on_pii` says:
- `allow`: the request goes as it is, but only to endpoints fit for its PII: the tenant's
  `privacy.pii_tags` (default `pii`) join its required tags. When no endpoint carries them,
  `privacy.no_fit_endpoint` says `refuse` (503) or `local-only` (the edge answers: the data does
  not leave, so the PII tags do not apply there);
- `redact`: the request goes on with each value replaced by a placeholder (`<EMAIL_1>`); the
  answer's placeholders are restored by this stage's response half (`on_answer`), whoever
  answered: the upstream, or the cache, whose entries hold placeholders for any request that
  carried PII;
- `local-only`: answered by the edge worker or the cache, never forwarded (the route stage keeps
  edge targets only, 503 when there is none);
- `block`: 400 `pii_detected`, naming the kinds found and never a value.
The decision says which (`x-router-privacy: redact; pii=email,cpf`), and where the request may go is
handed to the route stage as one value, a `Residency`. The body scanned is the one an upstream
reads: the parser refused repeated keys (`router.wire.duplicate_keys`), and a redacted
body is re-serialised from the scanned one.

The scan is linear, but a large body still takes a while: 1 MB of prose about 0.4 s, 1 MB
written to be slow (card-like digit groups) about 1.3 s. A body over `SCAN_ON_LOOP_MAX_BYTES`
is therefore scanned, and its redacted form encoded, in the app's one worker thread for large
bodies (`router.wire.large_bodies`, which says why one at a time), so that the event loop keeps
serving every other request meanwhile; a smaller one is scanned in place, cheaper than the
hand-off. The loop takes the GIL back from that thread within the switch interval because the
scan makes no long C call: each regular-expression call sees one slice of at most 4096
characters and the pattern's reach (`router.privacy.scan_work`).

Halves: request (the scan and the action), response (`on_answer`: placeholders restored, for an
upstream's answer to a redacted request and for a cache hit of any request with PII). It writes
its findings in its slot (`router.privacy.findings`), `ctx.residency`, and `ctx.redacted` (the
request with placeholders, which is what then leaves, `ctx.outgoing`); nothing else writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from router.answer import Answer
from router.context import RequestContext
from router.errors import InvalidRequest, PiiBlocked
from router.policy.model import PrivacyPolicy
from router.privacy.action_counts import PrivacyActionCounts
from router.privacy.findings import PRIVACY_SLOT, PrivacyFindings, findings
from router.privacy.json_texts import MAX_DEPTH, KeysCollide, NestedTooDeeply
from router.privacy.native_restoration import NativeRestoringFilter
from router.privacy.request_redaction import (
    RedactedRequest,
    redact_request,
    redact_with_native,
)
from router.privacy.restoring_filter import RestoringFilter
from router.residency import Residency
from router.wire.large_bodies import ON_LOOP_MAX_BYTES, LargeBodyWork
from router.wire.native import NativeRequest
from router.wire.requests import ParsedRequest

TAGS_HEADER = "x-router-privacy-tags"
# Node keys have no policy: their PII is allowed to endpoints tagged `pii`, as a tenant's default.
_NODE_PRIVACY = PrivacyPolicy()
SCAN_ON_LOOP_MAX_BYTES = ON_LOOP_MAX_BYTES

Scanner = Callable[[dict[str, Any]], RedactedRequest | None]


class PrivacyStage:
    name = "privacy"
    terminal = False

    def __init__(
        self,
        scan: Scanner = redact_request,
        large_bodies: LargeBodyWork | None = None,
        actions: PrivacyActionCounts | None = None,
    ) -> None:
        self._scan = scan
        self._large_bodies = large_bodies or LargeBodyWork()
        self._actions = actions or PrivacyActionCounts()

    async def on_request(self, ctx: RequestContext) -> Answer | None:
        privacy = ctx.policy.privacy if ctx.policy is not None else _NODE_PRIVACY
        tags = frozenset(privacy.required_tags) | _header_tags(ctx)
        redacting = privacy.on_pii == "redact"
        try:
            found, redacted, native = await self._large_bodies.run_for(
                len(ctx.parsed.raw), self._scan_and_encode, ctx.parsed, ctx.native, redacting
            )
        except NestedTooDeeply:
            # Not scanned is not sent: its texts could carry anything.
            raise InvalidRequest(
                f"The request body is nested more than {MAX_DEPTH} levels deep, which this "
                "router does not accept."
            ) from None
        except KeysCollide:
            # Merging the two would drop a value the client sent: refused, not guessed.
            raise InvalidRequest(
                "An object key of the request, once its personal data is replaced by a "
                "placeholder, equals another key of the same object. Rename the key and try "
                "again.",
                code="pii_key_collision",
            ) from None
        if found is not None:
            action = privacy.on_pii
            self._actions.record(action, found.kinds)
            ctx.decision.privacy = f"{action}; pii={','.join(found.kinds)}"
            if action == "block":
                raise PiiBlocked(
                    f"This request contains personal or secret data ({', '.join(found.kinds)}), "
                    "which this API key's policy does not allow to be processed. Remove it and "
                    "try again."
                )
            if action == "redact":
                ctx.put(PRIVACY_SLOT, PrivacyFindings(found, privacy.log_content))
                ctx.redacted = redacted or ctx.parsed.with_body(found.body)
                ctx.native = native
                ctx.residency = Residency(tags)
                return None
            ctx.put(PRIVACY_SLOT, PrivacyFindings(found, log_content=privacy.log_content))
            if action == "local-only":
                ctx.residency = Residency(tags, edge_only=True, pii_kinds=found.kinds)
                return None
            ctx.residency = Residency(
                tags,
                pii_tags=frozenset(privacy.pii_tags),
                edge_if_nothing_fits=privacy.no_fit_endpoint == "local-only",
                pii_kinds=found.kinds,
            )
            return None
        ctx.residency = Residency(tags)
        if privacy.log_content:
            ctx.put(PRIVACY_SLOT, PrivacyFindings(log_content=True))
        return None

    def on_answer(self, ctx: RequestContext, answer: Answer) -> None:
        """Restore the answer's placeholders with the request's values: an upstream's answer
        to a redacted request, and any cache hit of a request that carried PII."""
        seen = findings(ctx)
        if seen.found is not None and (ctx.redacted is not None or answer.source == "cache"):
            redactor = seen.found.redactor
            if answer.form == "chat":
                answer.wrap(RestoringFilter(redactor))
            else:  # passed through, in the API's own format
                answer.wrap(NativeRestoringFilter(redactor, answer.form))

    def _scan_and_encode(
        self, parsed: ParsedRequest, native: NativeRequest | None, redacting: bool
    ) -> tuple[RedactedRequest | None, ParsedRequest | None, NativeRequest | None]:
        """The scan, and the redacted body encoded when it is the one to send (orjson, about
        1 ms a megabyte): for a large body both in the worker thread, so that the loop does no
        work in proportion to it. A request that arrived in Responses or Messages is scanned in
        that form too, and the redacted native request returned (else `native` as it was)."""
        if native is None:
            found = self._scan(parsed.body)
        else:
            found, native_body = redact_with_native(parsed.body, native.body, native.api)
            if found is not None and redacting:
                native = native.with_body(native_body)
        if found is None or not redacting:
            return found, None, native
        return found, parsed.with_body(found.body), native


def _header_tags(ctx: RequestContext) -> frozenset[str]:
    header = ctx.request.headers.get(TAGS_HEADER)
    if not header:
        return frozenset()
    return frozenset(tag.strip() for tag in header.split(",") if tag.strip())
