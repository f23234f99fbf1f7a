"""The privacy stage's actions at `/metrics`: `router_privacy_actions_total` {action, kind},
requests on which the tenant's `on_pii` action (`allow`, `redact`, `local-only`, `block`) was
taken, by PII kind found. Read from the counts when scraped; no tenant in any label."""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Observation

from router.privacy.action_counts import PrivacyActionCounts
from router.telemetry.metrics import Metrics


def privacy_instruments(metrics: Metrics, actions: PrivacyActionCounts) -> None:
    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        for (action, kind), count in list(actions.counts.items()):
            yield Observation(count, {"action": action, "kind": kind})

    metrics.meter.create_observable_counter(
        "router.privacy.actions",
        callbacks=[observe],
        description="Requests on which a privacy action was taken (allow, redact, local-only, "
        "block), by PII kind found.",
    )
