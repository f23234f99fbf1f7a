"""How many requests each privacy action was taken on, by PII kind: the privacy stage counts, the
metrics read (`router_privacy_actions_total`). Plain integers: the request path adds to a dict.
Actions are the policy's `on_pii` values and kinds the detectors' (`KIND_ORDER`): a fixed set."""

from __future__ import annotations


class PrivacyActionCounts:
    def __init__(self) -> None:
        # (action, kind) -> requests on which the action was taken for PII of that kind.
        self.counts: dict[tuple[str, str], int] = {}

    def record(self, action: str, kinds: tuple[str, ...]) -> None:
        counts = self.counts
        for kind in kinds:
            counts[(action, kind)] = counts.get((action, kind), 0) + 1
