"""What the privacy stage found in a request and did with it, in its slot of the context.

The stages after it read it here (`findings(ctx)`): the cache keys a request that carried PII by
its redacted form and stores its answer with placeholders; the content log redacts what it logs;
the privacy stage's own response half restores an answer. Where the request may go is the other
half of its decision, `ctx.residency`, for the route stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.context import RequestContext, SlotKey
from router.privacy.request_redaction import RedactedRequest


@dataclass(frozen=True, slots=True)
class PrivacyFindings:
    # The PII found: the body with placeholders, the redactor holding the values, the kinds.
    # (Whether the request went on redacted is `ctx.redacted`.)
    found: RedactedRequest | None = None
    # The tenant opted in to content in its spans and access log (`privacy.log_content`).
    log_content: bool = False


NOTHING_FOUND = PrivacyFindings()
PRIVACY_SLOT: SlotKey[PrivacyFindings] = SlotKey("privacy")


def findings(ctx: RequestContext) -> PrivacyFindings:
    """The privacy stage's findings (nothing found, before it ran)."""
    return ctx.slot(PRIVACY_SLOT) or NOTHING_FOUND
