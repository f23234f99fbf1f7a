"""Where a request's data may go: what the privacy stage hands the route stage, in one value.

The privacy stage decides it from the tenant's policy, the request's `x-router-privacy-tags` and
the PII found; the route stage only reads it to filter its targets:
- `required_tags`: tags every endpoint the request goes to must carry (the tenant's and the
  request's own);
- `pii_tags`: tags an endpoint must carry too when the request leaves the PoP with PII in the
  clear (`on_pii: allow`); at the edge the data does not leave, so they do not apply there;
- `edge_only`: answered at the edge or nowhere (`on_pii: local-only`);
- `edge_if_nothing_fits`: when no endpoint carries the tags, the edge answers rather than a 503
  (`privacy.no_fit_endpoint: local-only`);
- `pii_kinds`: the kinds of PII found, for the error a client gets when nothing may serve it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Residency:
    required_tags: frozenset[str] = frozenset()
    pii_tags: frozenset[str] = frozenset()
    edge_only: bool = False
    edge_if_nothing_fits: bool = False
    pii_kinds: tuple[str, ...] = ()

    def tags_for(self, at_edge_only: bool) -> frozenset[str]:
        """The tags an endpoint must carry: PII tags only for a request that may leave."""
        return self.required_tags if at_edge_only else self.required_tags | self.pii_tags


# A request with no PII and no tags required: it may go anywhere.
ANYWHERE = Residency()
