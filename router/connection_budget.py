"""How many connections this process can hold, from the node config and the machine.

Every client connection holds a file descriptor, and every request it forwards holds a second
one upstream, so the open-file limit (raised to its hard limit by `edge-router serve`) is the
budget: `RESERVED_DESCRIPTORS` for the process's own files (listening sockets, logs, Redis, the
edge worker's pipes, the event loop's own; an idle router holds about 20), then half of the rest
for clients (`server.max_connections` when the node config sets it) and half for upstreams.
Without the reserve, 10,000 streams under a limit of 20,000 ran the process out of descriptors
before the cap was reached: accepts and upstream connects failed instead of a clean refusal.

An endpoint without its own `max_concurrency` may take the whole upstream half: when the other
regions fail, one endpoint carries everything the process can hold, and a lower cap would refuse
(or queue) requests the process has room for. A provider's own limits are the operator's to set
per endpoint.
"""

from __future__ import annotations

import resource

from router.config.model import EndpointSettings, ServerSettings

# With no open-file limit at all (RLIM_INFINITY), the budget nginx's worker_connections would
# need to be told explicitly: a bound all the same.
_UNLIMITED_FALLBACK = 65_536
RESERVED_DESCRIPTORS = 64


def default_max_connections() -> int:
    """Half the open-file soft limit left after the process's own files: a proxied request holds
    an upstream connection as well."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return _UNLIMITED_FALLBACK
    return max(1, (soft - RESERVED_DESCRIPTORS) // 2)


def max_client_connections(server: ServerSettings) -> int:
    """`server.max_connections`, or half the open-file limit (after the reserve)."""
    return server.max_connections or default_max_connections()


def endpoint_concurrency(endpoint: EndpointSettings, server: ServerSettings) -> int:
    """An endpoint's `max_concurrency`, or, unset, as many as the process holds connections."""
    return endpoint.max_concurrency or max_client_connections(server)
