"""A named topology for the load-test suite's network stack (`loadtest.harness.network_stack`): the
test bed's hosts and links, as `Topology.of` takes them, and the part each host plays. A file of
`loadtest/network/topologies/` (its name is the topology's), named by a scenario's `network:`:

    description: One line on what it models.
    hosts: [here, pop, us-east, redis]
    links:                                  # one-way delays; `ab` / `ba` for one direction only
      - {a: here, b: pop, delay_ms: 1}
      - {a: pop, b: us-east, delay_ms: 10, jitter_ms: 1}
      - {a: pop, b: redis, delay_ms: 1}
    pop: pop                                # runs `edge-router serve` and its edge worker
    regions: [us-east]                      # each runs the simulated cloud as the region it names
    redis: redis                            # runs the redis-server of the PoP's limits

The load generator is the caller's own namespace, `here`, which must be linked to the PoP and to
nothing else: the PoP is the only way in, as for a real client. Every region and Redis must be
linked to the PoP, since no namespace forwards. The stack adds a control link from `here` to each
region and to Redis (no delay, never shaped or cut): its management network, over which the
harness reaches the regions' control APIs and pings Redis, so a topology's links plus those stay
within the test bed's `MAX_LINKS`. Unknown fields are refused, and every problem is reported
with the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loadtest.named_yaml import load_named, names_in
from loadtest.network.testbed import HERE, MAX_HOSTS, MAX_LINKS, TestBedError, Topology

TOPOLOGIES_DIR: Final = Path(__file__).resolve().parent / "topologies"


class TopologyInvalid(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkShape(_Strict):
    """One direction's shape (`ab`, `ba`), or both directions' (the link's own fields)."""

    delay_ms: float | None = Field(None, ge=0, le=10_000)
    jitter_ms: float | None = Field(None, ge=0, le=10_000)
    loss: float | None = Field(None, ge=0, le=1)
    rate_mbit: float | None = Field(None, ge=0)


class LinkEntry(LinkShape):
    a: str
    b: str
    ab: LinkShape | None = None
    ba: LinkShape | None = None

    def as_testbed(self) -> dict[str, Any]:
        """As `Topology.of` takes it: only the fields the file gave."""
        return self.model_dump(exclude_none=True)


class TopologyFile(_Strict):
    name: str = ""
    description: str = Field(min_length=1)
    hosts: tuple[str, ...] = Field(min_length=2)
    links: tuple[LinkEntry, ...] = Field(min_length=1)
    pop: str
    regions: tuple[str, ...] = Field(min_length=1)
    redis: str

    @property
    def control_linked(self) -> tuple[str, ...]:
        """The hosts the stack links `here` to, for its control traffic: the regions, Redis."""
        return (*self.regions, self.redis)

    @model_validator(mode="after")
    def _roles_and_links_fit(self) -> TopologyFile:
        problems = [*self._role_problems(), *self._link_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        try:  # what the test bed itself checks: host names, the hosts of each link, counts
            self.bed_topology()
        except TestBedError as error:
            raise ValueError(str(error)) from None
        return self

    def _role_problems(self) -> list[str]:
        problems = []
        if HERE not in self.hosts:
            problems.append(f"hosts: the load generator's host `{HERE}` must be one of them")
        if len(self.hosts) > MAX_HOSTS:
            problems.append(f"hosts: {len(self.hosts)}, more than the test bed's {MAX_HOSTS}")
        roles = {"pop": (self.pop,), "regions": self.regions, "redis": (self.redis,)}
        for field, hosts in roles.items():
            for host in hosts:
                if host not in self.hosts or host == HERE:
                    problems.append(f"{field}: {host!r} is not one of the hosts (but `{HERE}`)")
        cast = [self.pop, *self.regions, self.redis]
        for host in sorted({host for host in cast if cast.count(host) > 1}):
            problems.append(f"{host!r} plays two parts (pop, regions, redis: one each)")
        idle = [host for host in self.hosts if host not in (HERE, *cast)]
        if idle:
            problems.append(f"hosts: no part (pop, a region, redis) for {', '.join(idle)}")
        return problems

    def _link_problems(self) -> list[str]:
        pairs = [frozenset((link.a, link.b)) for link in self.links]
        problems = []
        for index, link in enumerate(self.links):
            if pairs.index(pairs[index]) != index:
                problems.append(f"links[{index}]: a second link between {link.a} and {link.b}")
            if HERE in (link.a, link.b) and self.pop not in (link.a, link.b):
                problems.append(
                    f"links[{index}]: `{HERE}` (the load generator) links to the PoP only"
                )
        for host in (HERE, *self.control_linked):
            if frozenset((host, self.pop)) not in pairs:
                problems.append(f"links: no link between {host} and the PoP, {self.pop}")
        total = len(self.links) + len(self.control_linked)
        if total > MAX_LINKS:
            problems.append(
                f"links: {len(self.links)} and the stack's {len(self.control_linked)} control "
                f"links make {total}, more than the test bed's {MAX_LINKS}"
            )
        return problems

    def bed_topology(self) -> Topology:
        """The test bed the stack builds: the file's hosts and links, then a control link (no
        delay) from `here` to each region and to Redis."""
        links = [link.as_testbed() for link in self.links]
        links += [{"a": HERE, "b": host} for host in self.control_linked]
        return Topology.of({"hosts": list(self.hosts), "links": links})


def topology_names(directory: Path = TOPOLOGIES_DIR) -> list[str]:
    return names_in(directory)


def load_topology(name_or_path: str, directory: Path = TOPOLOGIES_DIR) -> TopologyFile:
    """A topology by its name (a file of `directory`) or by a path to its YAML file."""
    return load_named(name_or_path, directory, TopologyFile, TopologyInvalid)
